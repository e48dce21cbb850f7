"""load_config happy paths: where the config comes from, defaults, and `${VAR}` substitution."""

from __future__ import annotations

from pathlib import Path

import pytest

from spanguard.config import load_config, loads_config
from spanguard.config.model import DEFAULT_DETECTORS, DETECTOR_NAMES, SpanguardConfig
from spanguard.errors import ConfigError


def write(tmp_path: Path, text: str, name: str = "spanguard.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_no_source_and_no_file_gives_builtin_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SPANGUARD_CONFIG", raising=False)
    config = load_config()
    assert config == SpanguardConfig()
    assert config.redaction.enabled_detectors() == DEFAULT_DETECTORS
    assert "ip_address" not in config.redaction.enabled_detectors()
    assert config.exporters.console is not None
    assert config.exporters.file is None and config.exporters.otlp is None


def test_none_reads_spanguard_yaml_in_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SPANGUARD_CONFIG", raising=False)
    write(tmp_path, "truncation:\n  max_length: 100\n")
    assert load_config().truncation.max_length == 100


def test_env_var_names_the_file_and_wins_over_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "truncation:\n  max_length: 100\n")
    other = write(tmp_path, "truncation:\n  max_length: 200\n", name="other.yaml")
    monkeypatch.setenv("SPANGUARD_CONFIG", str(other))
    assert load_config().truncation.max_length == 200


def test_env_var_pointing_at_missing_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nope.yaml"
    monkeypatch.setenv("SPANGUARD_CONFIG", str(missing))
    with pytest.raises(ConfigError, match="config file not found") as caught:
        load_config()
    assert caught.value.path == str(missing)


def test_explicit_missing_path_is_an_error_not_defaults(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "typo.yaml")
    assert str(caught.value) == f"{tmp_path / 'typo.yaml'}: config file not found"


def test_path_accepts_str_and_pathlike(tmp_path: Path) -> None:
    path = write(tmp_path, "redaction:\n  detectors: all\n")
    assert load_config(str(path)).redaction.enabled_detectors() == DETECTOR_NAMES
    assert load_config(path).redaction.enabled_detectors() == DETECTOR_NAMES


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_file_means_defaults(tmp_path: Path, text: str) -> None:
    assert load_config(write(tmp_path, text)) == SpanguardConfig()


def test_mapping_source_is_validated() -> None:
    config = load_config({"redaction": {"detectors": ["email", "jwt"]}, "truncation": {"max_length": 64}})
    assert config.redaction.enabled_detectors() == ("email", "jwt")
    assert config.truncation.max_length == 64


def test_a_config_object_passes_through() -> None:
    config = SpanguardConfig()
    assert load_config(config) is config


def test_full_file_is_read_into_every_section(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
redaction:
  detectors: [email, phone, api_key]
  custom_patterns:
    - name: ticket
      pattern: 'TICKET-\\d{4,}'
  allow_keys: [http.url]
  block_keys: ['llm.input_messages.*.message.content']
  drop_keys: [user.address]
  allowed_values: ['noreply@example\\.com']
  replacement: hash
  hash: {key_env: MY_HASH_KEY, length: 16}
  summary: debug
truncation:
  max_length: 4096
  max_length_by_key:
    'retrieval.documents.*.document.content': 1024
  max_list_items: 32
exporters:
  file:
    path: out/spans.jsonl
    max_bytes: 10MiB
    backups: 2
  otlp:
    endpoint: http://127.0.0.1:4318
sidecar:
  grpc: {endpoint: 127.0.0.1:14317}
  http: {endpoint: 127.0.0.1:14318}
pipeline:
  top_k: 3
""",
    )
    config = load_config(path)
    redaction = config.redaction
    assert redaction.enabled_detectors() == ("email", "phone", "api_key")
    assert redaction.custom_patterns[0].name == "ticket"
    assert redaction.custom_patterns[0].pattern == "TICKET-\\d{4,}"
    assert redaction.block_keys == ["llm.input_messages.*.message.content"]
    assert redaction.replacement == "hash" and redaction.hash.key_env == "MY_HASH_KEY"
    assert redaction.hash.length == 16 and redaction.summary == "debug"
    assert config.truncation.max_length_by_key == {"retrieval.documents.*.document.content": 1024}
    assert config.exporters.file is not None and config.exporters.file.max_bytes == 10 * 1024**2
    assert config.exporters.console is None  # listing exporters replaces the console default
    assert config.sidecar.grpc is not None and config.sidecar.grpc.endpoint == "127.0.0.1:14317"
    assert config.pipeline.top_k == 3


def test_empty_exporter_section_means_that_exporter_with_defaults() -> None:
    config = loads_config("exporters:\n  console:\n  phoenix:\n")
    assert config.exporters.console is not None and config.exporters.console.format == "pretty"
    assert config.exporters.phoenix is not None and config.exporters.phoenix.endpoint is None
    assert config.exporters.otlp is None


def test_empty_top_level_section_means_its_defaults() -> None:
    config = loads_config("redaction:\ntruncation:\n")
    assert config.redaction == SpanguardConfig().redaction
    assert config.truncation == SpanguardConfig().truncation


def test_null_listener_turns_it_off() -> None:
    # `grpc:` needs an endpoint, so an empty value can only mean "no gRPC receiver"
    config = loads_config("sidecar:\n  grpc:\n  http: {endpoint: 127.0.0.1:9999}\n")
    assert config.sidecar.grpc is None
    assert config.sidecar.http is not None and config.sidecar.http.endpoint == "127.0.0.1:9999"


def test_sidecar_delivery_defaults_and_values() -> None:
    default = loads_config("sidecar:\n  delivery:\n    retry:\n").sidecar.delivery
    assert default.num_consumers == 4
    assert (default.retry.initial_interval_s, default.retry.max_interval_s) == (0.1, 5.0)
    retry = "retry: {initial_interval_s: 1, max_interval_s: 1}"
    delivery = loads_config(f"sidecar:\n  delivery:\n    num_consumers: 16\n    {retry}\n").sidecar.delivery
    assert delivery.num_consumers == 16
    assert (delivery.retry.initial_interval_s, delivery.retry.max_interval_s) == (1, 1)


def test_single_detector_name_is_a_list_of_one() -> None:
    assert loads_config("redaction:\n  detectors: jwt\n").redaction.enabled_detectors() == ("jwt",)


def test_detectors_none_and_disabled_redaction_turn_everything_off() -> None:
    assert loads_config("redaction:\n  detectors: none\n").redaction.enabled_detectors() == ()
    assert loads_config("redaction:\n  enabled: false\n").redaction.enabled_detectors() == ()


def test_merge_keys_and_anchors_work() -> None:
    config = loads_config(
        "exporters:\n"
        "  otlp: &otlp {endpoint: 'http://127.0.0.1:4318', timeout_s: 3}\n"
        "  phoenix:\n"
        "    <<: *otlp\n"
        "    project: demo\n"
    )
    assert config.exporters.phoenix is not None
    assert config.exporters.phoenix.endpoint == "http://127.0.0.1:4318"
    assert config.exporters.phoenix.timeout_s == 3


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufefftruncation:\n  max_length: 99\n".encode())
    assert load_config(path).truncation.max_length == 99


# --- ${VAR} substitution ------------------------------------------------------------------


def test_set_variable_is_substituted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SG_TEST_ENDPOINT", "http://127.0.0.1:7777")
    config = loads_config("exporters:\n  otlp:\n    endpoint: ${SG_TEST_ENDPOINT}\n")
    assert config.exporters.otlp is not None and config.exporters.otlp.endpoint == "http://127.0.0.1:7777"


def test_collector_env_prefix_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SG_TEST_PROJECT", "proj")
    config = loads_config("exporters:\n  phoenix:\n    project: ${env:SG_TEST_PROJECT}\n")
    assert config.exporters.phoenix is not None and config.exporters.phoenix.project == "proj"


def test_substitution_inside_a_longer_string(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SG_TEST_TOKEN", "t0k")
    config = loads_config(
        "exporters:\n  otlp:\n    headers:\n      authorization: 'Bearer ${SG_TEST_TOKEN}'\n"
    )
    assert config.exporters.otlp is not None
    assert config.exporters.otlp.headers == {"authorization": "Bearer t0k"}


def test_default_used_when_unset_or_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "pipeline:\n  model: ${SG_TEST_MODEL:-local/fallback}\n"
    monkeypatch.delenv("SG_TEST_MODEL", raising=False)
    assert loads_config(text).pipeline.model == "local/fallback"
    monkeypatch.setenv("SG_TEST_MODEL", "")
    assert loads_config(text).pipeline.model == "local/fallback"
    monkeypatch.setenv("SG_TEST_MODEL", "real/model")
    assert loads_config(text).pipeline.model == "real/model"


def test_substituted_numbers_and_booleans_are_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SG_TEST_MAX", "512")
    monkeypatch.setenv("SG_TEST_ON", "false")
    config = loads_config("truncation:\n  max_length: ${SG_TEST_MAX}\n  enabled: ${SG_TEST_ON:-true}\n")
    assert config.truncation.max_length == 512
    assert config.truncation.enabled is False


def test_double_dollar_is_a_literal_dollar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SG_TEST_X", "nope")
    config = loads_config(
        "redaction:\n  custom_patterns:\n"
        "    - {name: a, pattern: 'price$$'}\n"
        "    - {name: b, pattern: '$${SG_TEST_X}'}\n"
        "    - {name: c, pattern: 'end$'}\n"
    )
    assert [p.pattern for p in config.redaction.custom_patterns] == ["price$", "${SG_TEST_X}", "end$"]


def test_substitution_does_not_apply_to_keys_or_mapping_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SG_TEST_X", "value")
    config = load_config({"pipeline": {"model": "${SG_TEST_X}"}})
    assert config.pipeline.model == "${SG_TEST_X}"
