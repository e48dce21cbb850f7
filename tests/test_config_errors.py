"""Every kind of bad config becomes one ConfigError line naming the file, line and key,
and no error ever quotes a config value or an environment variable's value."""

from __future__ import annotations

from pathlib import Path

import pytest

from spanguard.config import load_config, loads_config
from spanguard.errors import ConfigError, SpanguardError


def error_for(text: str, name: str = "spanguard.yaml") -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        loads_config(text, name)
    error = caught.value
    assert isinstance(error, SpanguardError)
    assert "\n" not in str(error)
    return error


def test_unknown_key_names_file_line_key_and_suggests() -> None:
    error = error_for("truncation:\n  max_length: 100\nredaction:\n  detecters: all\n")
    assert str(error) == (
        "spanguard.yaml:4: unknown key 'detecters'; did you mean 'detectors'? (key: redaction.detecters)"
    )
    assert (error.path, error.line, error.key) == ("spanguard.yaml", 4, "redaction.detecters")


def test_unknown_top_level_section() -> None:
    error = error_for("\n\nexporter:\n  console:\n")
    assert error.line == 3 and error.key == "exporter"
    assert "unknown key 'exporter'; did you mean 'exporters'?" in str(error)


def test_unknown_key_inside_a_list_item() -> None:
    error = error_for("redaction:\n  custom_patterns:\n    - name: x\n      pattern: y\n    - nmae: z\n")
    assert error.line == 5
    assert error.key == "redaction.custom_patterns[1].nmae"
    assert "did you mean 'name'?" in str(error)


def test_missing_required_key() -> None:
    error = error_for("redaction:\n  custom_patterns:\n    - name: ticket\n")
    assert error.line == 3
    assert error.key == "redaction.custom_patterns[0].pattern"
    assert "missing required key 'pattern'" in str(error)


def test_wrong_type_names_the_key_line() -> None:
    error = error_for("redaction:\n  enabled: true\ntruncation:\n  max_length: lots\n")
    assert error.line == 4 and error.key == "truncation.max_length"
    assert "valid integer" in str(error)


def test_retry_max_interval_below_initial_names_the_max() -> None:
    retry = "retry:\n      initial_interval_s: 2\n      max_interval_s: 1"
    error = error_for(f"sidecar:\n  delivery:\n    {retry}\n")
    assert (error.line, error.key) == (5, "sidecar.delivery.retry.max_interval_s")
    assert "max_interval_s must not be less than initial_interval_s" in str(error)


def test_retry_initial_interval_above_the_default_max_names_the_initial() -> None:
    # only initial_interval_s is in the file: the error points at the line the user wrote
    error = error_for("sidecar:\n  delivery:\n    retry:\n      initial_interval_s: 10\n")
    assert (error.line, error.key) == (4, "sidecar.delivery.retry.initial_interval_s")
    assert "max_interval_s (5.0 s by default)" in str(error)


@pytest.mark.parametrize(
    ("setting", "key", "problem"),
    [
        ("num_consumers: 0", "sidecar.delivery.num_consumers", "greater than or equal to 1"),
        ("num_consumers: 65", "sidecar.delivery.num_consumers", "less than or equal to 64"),
        ("num_consumers: many", "sidecar.delivery.num_consumers", "valid integer"),
        ("retry: {initial_interval_s: 0}", "sidecar.delivery.retry.initial_interval_s", "greater than 0"),
        ("retry: {max_interval_s: -1}", "sidecar.delivery.retry.max_interval_s", "greater than 0"),
        ("retry: {backoff: 2}", "sidecar.delivery.retry.backoff", "unknown key 'backoff'"),
        ("num_consumer: 4", "sidecar.delivery.num_consumer", "did you mean 'num_consumers'?"),
    ],
)
def test_bad_delivery_settings_name_the_key(setting: str, key: str, problem: str) -> None:
    error = error_for(f"sidecar:\n  delivery:\n    {setting}\n")
    assert (error.line, error.key) == (3, key)
    assert problem in str(error)


def test_out_of_range_value() -> None:
    error = error_for("truncation:\n  max_length: 5\n")
    assert error.line == 2 and error.key == "truncation.max_length"
    assert "greater than or equal to 16" in str(error)


def test_wrong_literal() -> None:
    error = error_for("redaction:\n  replacement: scramble\n")
    assert error.key == "redaction.replacement" and error.line == 2
    assert "'marker' or 'hash'" in str(error)


def test_bad_size() -> None:
    error = error_for("exporters:\n  file:\n    max_bytes: 10 parsecs\n")
    assert error.key == "exporters.file.max_bytes" and error.line == 3


def test_section_of_wrong_shape() -> None:
    error = error_for("redaction: [email]\n")
    assert error.key == "redaction" and error.line == 1


def test_unknown_detector_in_a_list_points_at_the_item() -> None:
    error = error_for("redaction:\n  detectors:\n    - email\n    - emial\n")
    assert error.line == 4 and error.key == "redaction.detectors[1]"
    assert "unknown detector (did you mean 'email'?)" in str(error)
    assert "email, phone" in str(error)  # lists what is valid


def test_unknown_detector_as_single_name() -> None:
    error = error_for("redaction:\n  detectors: every\n")
    assert error.line == 2 and error.key == "redaction.detectors"
    assert "unknown detector; use default, all, none" in str(error)


def test_duplicate_detector() -> None:
    error = error_for("redaction:\n  detectors: [email, jwt, email]\n")
    assert error.key == "redaction.detectors[2]"


def test_invalid_re2_custom_pattern_names_the_pattern_not_its_text(capfd: pytest.CaptureFixture[str]) -> None:
    secret_literal = "sk-live-0123456789abcdef"
    error = error_for(
        "redaction:\n  custom_patterns:\n    - name: fine\n      pattern: 'a+'\n"
        f"    - name: internal_token\n      pattern: '{secret_literal}(unclosed'\n"
    )
    assert error.line == 6 and error.key == "redaction.custom_patterns[1].pattern"
    assert "custom pattern 'internal_token' is not valid RE2 syntax: missing )" in str(error)
    assert secret_literal not in str(error)
    # RE2 would log the pattern verbatim through absl; it must stay quiet
    captured = capfd.readouterr()
    assert secret_literal not in captured.err + captured.out


def test_python_only_regex_is_rejected_by_re2() -> None:
    # look-behind works in Python's re, not in RE2 (which is why RE2 is linear-time)
    error = error_for("redaction:\n  custom_patterns:\n    - {name: lb, pattern: '(?<=id=)\\d+'}\n")
    assert error.line == 3 and "'lb'" in str(error) and "RE2" in str(error)


def test_invalid_allowed_value_points_at_the_item() -> None:
    error = error_for("redaction:\n  allowed_values:\n    - 'ok'\n    - '[z-a]'\n")
    assert error.line == 4 and error.key == "redaction.allowed_values[1]"
    assert "z-a" not in str(error)


def test_custom_pattern_name_rules() -> None:
    assert (
        error_for("redaction:\n  custom_patterns:\n    - {name: email, pattern: x}\n").key
        == "redaction.custom_patterns[0]"
    )
    error = error_for(
        "redaction:\n  custom_patterns:\n    - {name: a, pattern: x}\n    - {name: a, pattern: y}\n"
    )
    assert error.line == 4 and "used twice" in str(error)
    assert error_for("redaction:\n  custom_patterns:\n    - {name: 'has space', pattern: x}\n").key == (
        "redaction.custom_patterns[0].name"
    )


def test_invalid_glob() -> None:
    error = error_for("redaction:\n  block_keys:\n    - 'llm.*'\n    - 'bad[glob'\n")
    assert error.line == 4 and error.key == "redaction.block_keys[1]"
    error = error_for("truncation:\n  max_length_by_key:\n    'ok.*': 100\n    'x': 3\n")
    assert error.line == 4 and error.key == "truncation.max_length_by_key.x"
    error = error_for("truncation:\n  max_length_by_key:\n    'llm.*': 3\n")
    assert error.key == "truncation.max_length_by_key['llm.*']"


def test_first_error_in_the_file_wins_and_others_are_counted() -> None:
    error = error_for("truncation:\n  max_length: 5\nredaction:\n  detecters: x\n  summary: loud\n")
    assert error.line == 2
    assert "(and 2 more errors)" in str(error)


# --- malformed YAML -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("redaction:\n  detectors: [email\n", 3),
        ("redaction:\n\tdetectors: all\n", 2),
        ("redaction:\n  enabled: true\n   summary: info\n", 3),
        ("a: 'unterminated\n", 2),
        ("redaction: !!python/object:os.system x\n", 1),
    ],
)
def test_malformed_yaml_gives_file_and_line(text: str, line: int) -> None:
    error = error_for(text)
    assert error.line == line
    assert str(error).startswith(f"spanguard.yaml:{line}: invalid YAML: ")


def test_tagged_collections_and_deep_nesting_are_errors() -> None:
    error = error_for("redaction:\n  allow_keys: !!set {a, b}\n")
    assert error.line == 2 and error.key == "redaction.allow_keys" and "tagged" in str(error)
    error = error_for("redaction: " + "[" * 5000 + "]" * 5000 + "\n")
    assert error.line is None and "nested too deeply" in str(error)


def test_duplicate_key() -> None:
    error = error_for("redaction:\n  enabled: true\n  enabled: false\n")
    assert error.line == 3 and error.key == "redaction.enabled" and "duplicate key" in str(error)


def test_top_level_must_be_a_mapping() -> None:
    error = error_for("- redaction\n")
    assert error.line == 1 and "mapping" in str(error)


def test_invalid_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"redaction:\n  summary: \xff\xfe\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.line == 2 and "UTF-8" in str(caught.value)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="directory"):
        load_config(tmp_path)


# --- substitution errors, and values never echoed -----------------------------------------


def test_unset_variable_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SG_TEST_MISSING", raising=False)
    error = error_for("exporters:\n  otlp:\n    headers:\n      x-api-key: ${SG_TEST_MISSING}\n")
    assert error.line == 4 and error.key == "exporters.otlp.headers.x-api-key"
    assert "environment variable SG_TEST_MISSING is not set" in str(error)


def test_invalid_substitution_syntax() -> None:
    error = error_for("pipeline:\n  model: '${not a name}'\n")
    assert error.line == 2 and "invalid substitution" in str(error)


def test_substitution_error_and_validation_error_report_the_earlier_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SG_TEST_MISSING", raising=False)
    error = error_for("truncation:\n  max_length: 1\npipeline:\n  model: ${SG_TEST_MISSING}\n")
    assert error.line == 2
    error = error_for("pipeline:\n  model: ${SG_TEST_MISSING}\ntruncation:\n  max_length: 1\n")
    assert error.line == 2 and "SG_TEST_MISSING" in str(error)


def test_env_values_never_appear_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "hunter2-very-secret-value"
    monkeypatch.setenv("SG_TEST_SECRET", secret)
    texts = [
        "truncation:\n  max_length: ${SG_TEST_SECRET}\n",
        "redaction:\n  detectors: ${SG_TEST_SECRET}\n",
        "redaction:\n  detectors: ['${SG_TEST_SECRET}']\n",
        "redaction:\n  replacement: ${SG_TEST_SECRET}\n",
        "exporters:\n  file:\n    max_bytes: ${SG_TEST_SECRET}\n",
        "redaction:\n  custom_patterns:\n    - {name: p, pattern: '(${SG_TEST_SECRET}'}\n",
        "exporters:\n  otlp:\n    compression: 'x${SG_TEST_SECRET}'\n",
    ]
    for text in texts:
        error = error_for(text)
        assert secret not in str(error), text
        assert "hunter2" not in str(error), text


def test_literal_secrets_in_the_file_never_appear_in_errors() -> None:
    secret = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
    texts = [
        f"sidecar:\n  auth:\n    bearer_token: [{secret}]\n",
        f"sidecar:\n  auth:\n    bearer_token: {secret}\n    extra: 1\n",
        f"exporters:\n  otlp:\n    headers: {secret}\n",
        f"exporters:\n  otlp:\n    timeout_s: {secret}\n",
    ]
    for text in texts:
        assert secret not in str(error_for(text)), text


def test_mapping_source_names_the_key_without_file_or_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"redaction": {"custom_patterns": [{"name": "t", "pattern": "a(b"}]}})
    error = caught.value
    assert error.path is None and error.line is None
    assert str(error) == (
        "custom pattern 't' is not valid RE2 syntax: missing ) (key: redaction.custom_patterns[0].pattern)"
    )


def test_unsupported_source_type() -> None:
    with pytest.raises(ConfigError, match="path or a mapping"):
        load_config(42)  # type: ignore[arg-type]


def test_blank_otlp_endpoint_from_an_unset_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SG_TEST_COLLECTOR", raising=False)
    error = error_for("exporters:\n  otlp:\n    protocol: grpc\n    endpoint: ${SG_TEST_COLLECTOR:-}\n")
    assert (error.line, error.key) == (4, "exporters.otlp.endpoint")
    assert "endpoint is empty" in str(error)
