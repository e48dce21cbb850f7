"""The Redactor on plain values: key rules, replacement modes, JSON, batches, failures."""

from __future__ import annotations

import json
import logging

import pytest

from spanguard.config.model import CustomPattern, HashReplacement, RedactionConfig
from spanguard.errors import ConfigError
from spanguard.processors.changes import DROPPED
from spanguard.processors.detectors import Detector
from spanguard.processors.redaction import Redactor, summary_attributes

EMAIL = "jane.doe@example.com"


def test_key_rules_allow_block_drop_and_scan() -> None:
    redactor = Redactor(
        RedactionConfig(
            allow_keys=["user.email"],
            block_keys=["llm.input_messages.*.message.content"],
            drop_keys=["http.request.header.*"],
        )
    )
    keys = ["user.email", "llm.input_messages.3.message.content", "http.request.header.cookie", "note", "n"]
    values = [EMAIL, "nothing secret here", "session=abc", f"mail {EMAIL}", 42]
    changes = redactor.redact(keys, values)
    assert changes[0] is None  # allowed: never touched
    assert (
        changes[1] is not None and changes[1].value == "[REDACTED:blocked]" and changes[1].action == "blocked"
    )
    assert changes[2] is not None and changes[2].value is DROPPED
    assert changes[3] is not None and changes[3].value == "mail [REDACTED:email]"
    assert changes[4] is None  # numbers untouched


def test_allow_wins_over_block_and_drop() -> None:
    redactor = Redactor(RedactionConfig(allow_keys=["a.*"], block_keys=["a.b"], drop_keys=["a.c"]))
    assert redactor.redact(["a.b", "a.c"], [EMAIL, EMAIL]) == [None, None]


def test_attribute_named_like_a_secret_is_masked_whole() -> None:
    redactor = Redactor(RedactionConfig())
    change = redactor.redact_value("db.password", "anything at all")
    assert change is not None and change.value == "[REDACTED:password]"
    assert redactor.redact_value("llm.token_count.prompt", 12) is None
    assert redactor.redact_value("app.secret_key", "zzz") is not None
    # without the password detector the key name means nothing
    assert Redactor(RedactionConfig(detectors=["email"])).redact_value("db.password", "x") is None


def test_allowed_values_are_never_masked() -> None:
    redactor = Redactor(RedactionConfig(allowed_values=[r".*@example\.com"]))
    assert redactor.redact_text(f"{EMAIL} and bob@corp.io") == f"{EMAIL} and [REDACTED:email]"


def test_custom_patterns_and_their_names() -> None:
    redactor = Redactor(
        RedactionConfig(
            custom_patterns=[
                CustomPattern(name="employee_id", pattern=r"\bEMP-[0-9]{6}\b"),
                CustomPattern(name="ticket", pattern=r"ticket=(?P<secret>[A-Z]{3}-[0-9]+)"),
                CustomPattern(name="other", pattern=r"(?P<x>zz)top"),
                CustomPattern(name="other2", pattern=r"(?P<x>yy)bottom"),  # same group name: still fine
            ]
        )
    )
    assert (
        redactor.redact_text("EMP-123456 filed ticket=ABC-42")
        == "[REDACTED:employee_id] filed ticket=[REDACTED:ticket]"
    )
    assert redactor.redact_text("zztop yybottom") == "[REDACTED:other] [REDACTED:other2]"


def test_pattern_rejected_by_re2_names_the_pattern_and_hides_it() -> None:
    # the config model rejects it too; the engine must not rely on that (mappings built in code)
    bad = CustomPattern.model_construct(name="lookbehind", pattern=r"(?<=hunter)\d+")
    config = RedactionConfig(custom_patterns=[bad])
    with pytest.raises(ConfigError) as error:
        Redactor(config)
    assert "lookbehind" in str(error.value)
    assert "hunter" not in str(error.value)


def test_hash_mode_is_keyed_stable_and_opaque(monkeypatch: pytest.MonkeyPatch) -> None:
    def config() -> RedactionConfig:  # the key is read when the config loads
        return RedactionConfig(replacement="hash", hash=HashReplacement(key_env="TEST_SG_KEY", length=16))

    monkeypatch.setenv("TEST_SG_KEY", "key-one")
    first = Redactor(config())
    a = first.redact_text(f"from {EMAIL}")
    b = first.redact_text(f"again {EMAIL}!")
    token = a.split()[-1]
    assert token.startswith("[email:") and len(token) == len("[email:]") + 16
    assert token in b  # same input, same token: correlates across spans
    assert EMAIL not in a and "jane" not in token
    assert first.redact_text("other@example.com") != token
    monkeypatch.setenv("TEST_SG_KEY", "key-two")
    assert Redactor(config()).redact_text(f"from {EMAIL}") != a  # different key, different token
    assert first.redact_text(a) == a  # idempotent on its own output


def test_hash_mode_without_key_fails_closed_to_markers(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("SPANGUARD_HASH_KEY", raising=False)
    with caplog.at_level(logging.WARNING):
        redactor = Redactor(RedactionConfig(replacement="hash"))
    assert redactor.hash_key_missing
    assert redactor.redact_text(EMAIL) == "[REDACTED:email]"
    assert redactor.hash_fallbacks == 1
    assert "SPANGUARD_HASH_KEY" in caplog.text


def test_json_values_stay_valid_and_keep_their_shape() -> None:
    redactor = Redactor(RedactionConfig())
    document = [
        {"role": "system", "content": "be nice"},
        {"role": "user", "content": f"I am {EMAIL}", "meta": {"password": "hunter22", "n": 1.5}},
    ]
    out = redactor.redact_value("input.value", json.dumps(document))
    assert out is not None
    parsed = json.loads(out.value)
    assert parsed[0] == document[0]
    assert parsed[1]["content"] == "I am [REDACTED:email]"
    assert parsed[1]["meta"] == {"password": "[REDACTED:password]", "n": 1.5}


def test_json_escapes_cannot_hide_a_secret() -> None:
    escaped = json.dumps({"content": "mail jane\u00b7doe@example.com"})  # \\u00b7 escape in the raw text
    assert "\\u" in escaped
    out = Redactor(RedactionConfig()).redact_text(escaped)
    assert "example.com" not in out
    json.loads(out)


def test_json_off_treats_json_as_text() -> None:
    redactor = Redactor(RedactionConfig(json_values=False))
    out = redactor.redact_text(json.dumps({"content": EMAIL}))
    assert out == '{"content": "[REDACTED:email]"}'


def test_arrays_bytes_and_nested_values() -> None:
    redactor = Redactor(RedactionConfig(drop_keys=["m.drop"]))
    changes = redactor.redact(
        ["tags", "raw", "m", "plain"],
        [(f"to {EMAIL}", "clean", 7), b"\xff\xfe bin " + EMAIL.encode(), {"drop": "x", "keep": EMAIL}, "ok"],
    )
    assert changes[0] is not None and changes[0].value == ("to [REDACTED:email]", "clean", 7)
    assert changes[1] is not None and changes[1].value == b"\xff\xfe bin [REDACTED:email]"
    assert changes[2] is not None and changes[2].value == {"keep": "[REDACTED:email]"}
    assert changes[3] is None


def test_many_values_in_one_batch_map_back_to_the_right_value() -> None:
    redactor = Redactor(RedactionConfig())
    values = [f"value {i} " + (f"user{i}@example.com" if i % 3 == 0 else "clean") for i in range(300)]
    values[7] = "ünïcödé text → user7@example.com ✓"
    changes = redactor.redact([f"k{i}" for i in range(300)], values)
    for i, change in enumerate(changes):
        if i % 3 == 0 or i == 7:
            assert (
                change is not None and f"user{i}@" not in change.value and "[REDACTED:email]" in change.value
            )
        else:
            assert change is None
    assert changes[7] is not None and changes[7].value == "ünïcödé text → [REDACTED:email] ✓"


def test_match_spanning_two_values_is_not_trusted() -> None:
    # the private-key pattern could run from one value into the next: each is rescanned alone
    redactor = Redactor(RedactionConfig())
    first = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg"
    second = "plain text then -----END PRIVATE KEY----- and more"
    changes = redactor.redact(["a", "b"], [first, second])
    assert changes[0] is not None and "MIIEvQ" not in changes[0].value
    assert changes[1] is None


def _exploding_validator(candidate: bytes) -> tuple[int, int] | None:
    raise RuntimeError("detector bug")


def test_failing_detector_fails_closed_for_that_value_only() -> None:
    boom = Detector("boom", r"\bBOOM[0-9]+\b", _exploding_validator)
    redactor = Redactor(RedactionConfig(), extra_detectors=[boom])
    changes = redactor.redact(["a", "b", "c"], ["has BOOM123 inside", f"mail {EMAIL}", "clean"])
    assert changes[0] is not None and changes[0].value == "[REDACTED:error]" and changes[0].action == "failed"
    assert changes[1] is not None and changes[1].value == "mail [REDACTED:email]"
    assert changes[2] is None


def test_markers_never_echo_secrets_and_nothing_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    redactor = Redactor(RedactionConfig(detectors="all"))
    secret = "sk-proj-Abc123def456GHI789jkl012MNO345"
    with caplog.at_level(logging.DEBUG):
        out = redactor.redact_text(f"key {secret} for {EMAIL}")
    assert secret not in out and EMAIL not in out
    assert secret not in caplog.text and EMAIL not in caplog.text


def test_disabled_redactor_changes_nothing() -> None:
    redactor = Redactor(RedactionConfig(enabled=False, block_keys=["*"]))
    assert redactor.redact(["a"], [EMAIL]) == [None]


def test_summary_levels() -> None:
    keys = {"redacted": ["b", "a"], "dropped": ["c"]}
    assert summary_attributes("info", keys, 3) == {"spanguard.redacted.count": 3}
    assert summary_attributes("debug", keys, 3) == {
        "spanguard.redacted.count": 3,
        "spanguard.redacted.keys": ("a", "b"),
        "spanguard.dropped.keys": ("c",),
    }
    assert summary_attributes("silent", keys, 3) == {}


def test_json_leaves_are_scanned_with_their_key_as_context() -> None:
    redactor = Redactor(RedactionConfig())
    document = {"headers": {"authorization": "Basic dXNlcjpwYXNzd29yZA==", "accept": "text/plain"}}
    out = redactor.redact_text(json.dumps(document))
    parsed = json.loads(out)
    assert parsed == {"headers": {"authorization": "Basic [REDACTED:bearer_token]", "accept": "text/plain"}}


def test_json_object_keys_are_data_too() -> None:
    redactor = Redactor(RedactionConfig())
    document = {"users": {EMAIL: {"role": "admin"}, "bob@example.org": {"role": "user"}}, "n": 2}
    out = redactor.redact_text(json.dumps(document))
    parsed = json.loads(out)
    assert EMAIL not in out and "bob@example.org" not in out
    assert parsed == {
        "users": {"[REDACTED:email]": {"role": "admin"}, "[REDACTED:email]#2": {"role": "user"}},
        "n": 2,
    }
    assert redactor.redact_text(out) == out


def test_nested_sequences_and_maps_are_redacted_at_every_depth() -> None:
    """The SDK accepts nested arrays and maps as attribute values; none may carry text out."""
    redactor = Redactor(RedactionConfig(block_keys=["blocked"]))
    nested = ((EMAIL, ("x", EMAIL)), {"inner": EMAIL, "deeper": ({"k": EMAIL},)}, 7, "plain")

    change, blocked = redactor.redact(["nested", "blocked"], [nested, (("secret words",), {"k": "more"})])

    assert change is not None and "email" in change.detectors
    assert change.value == (
        ("[REDACTED:email]", ("x", "[REDACTED:email]")),
        {"inner": "[REDACTED:email]", "deeper": ({"k": "[REDACTED:email]"},)},
        7,
        "plain",
    )
    assert blocked is not None
    assert "secret words" not in repr(blocked.value) and "more" not in repr(blocked.value)
