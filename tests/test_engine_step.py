"""The one engine step: redact -> truncate -> skip dropped -> merge -> count, and its no-op twin."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from support_otlp import key_value

from spanguard.config.model import RedactionConfig, TruncationConfig
from spanguard.processors.changes import DROPPED, MASKED
from spanguard.processors.engine import Counts, Engine, NoopEngine, merge_summary
from spanguard.processors.otlp_adapter import apply_to_request
from spanguard.processors.redaction import Redactor
from spanguard.processors.truncation import Truncator

EMAIL = "jane.doe@example.com"


def test_redact_then_truncate_merges_into_one_change_and_counts_each_stage() -> None:
    redactor = Redactor(RedactionConfig(drop_keys=["secret.*"]))
    engine = Engine(redactor, Truncator(TruncationConfig(max_length=60)))
    keys = ["note", "secret.token", "long", "clean", None]
    values = [f"mail {EMAIL} " + "x" * 100, "abc", "y" * 100, "fine", f"name {EMAIL}"]
    changes, counts = engine.apply(keys, values)
    note, dropped, long, clean, name = changes
    assert note is not None and note.action == MASKED and note.detectors == ("email",)
    assert str(note.value).startswith("mail [REDACTED:email] ") and len(note.value) <= 60
    assert dropped is not None and dropped.value is DROPPED  # dropped by redaction, hidden from truncation
    assert long is not None and len(long.value) <= 60
    assert clean is None
    assert name is not None and name.value == "name [REDACTED:email]"
    assert counts == Counts(redacted=2, truncated=2, dropped=1)
    assert counts.changed and counts.spans == 0  # the caller counts spans


def test_a_stage_may_be_off_and_noop_does_nothing() -> None:
    only_truncation = Engine(None, Truncator(TruncationConfig(max_length=20)))
    changes, counts = only_truncation.apply(["k"], [EMAIL + " and more text here"])
    assert changes[0] is not None and EMAIL not in str(changes[0].value)  # cut, not redacted
    assert counts == Counts(truncated=1)
    noop = NoopEngine()
    assert not noop.enabled and not noop.drops("anything")
    assert noop.apply(["k", None], [EMAIL, "x"]) == ([None, None], Counts())
    assert noop.summary(noop.run(["k"], [EMAIL]), None, [0]) == {}


def test_from_config_gives_the_noop_engine_when_both_stages_are_off() -> None:
    off = Engine.from_config(RedactionConfig(enabled=False), TruncationConfig(enabled=False))
    assert isinstance(off, NoopEngine)
    on = Engine.from_config(RedactionConfig(), TruncationConfig(enabled=False))
    assert isinstance(on, Engine) and on.redactor is not None and on.truncator is None


class _BrokenTruncator(Truncator):
    def truncate(self, keys: Any, values: Any, originals: Any = None) -> Any:
        raise RuntimeError("truncator bug")


def test_truncation_bug_fails_open_only_when_asked(caplog: pytest.LogCaptureFixture) -> None:
    redactor = Redactor(RedactionConfig())
    engine = Engine(redactor, _BrokenTruncator(TruncationConfig()), truncation_fails_open=True)
    with caplog.at_level("DEBUG"):
        changes, counts = engine.apply(["note"], [f"mail {EMAIL}"])
    # the log names the exception type only: no message, no traceback
    assert "RuntimeError" in caplog.text and "truncator bug" not in caplog.text
    assert "Traceback" not in caplog.text
    assert all(record.exc_info is None for record in caplog.records)
    assert changes[0] is not None and changes[0].value == "mail [REDACTED:email]"  # redaction kept
    assert counts == Counts(redacted=1, failed=1)
    strict = Engine(redactor, _BrokenTruncator(TruncationConfig()))
    with pytest.raises(RuntimeError):
        strict.apply(["note"], [f"mail {EMAIL}"])


def test_summary_per_stage_and_levels() -> None:
    engine = Engine(
        Redactor(RedactionConfig(summary="debug", drop_keys=["cookie"])),
        Truncator(TruncationConfig(max_length=20, summary="info")),
    )
    keys = ["note", "cookie", "long"]
    staged = engine.run(keys, [f"to {EMAIL}", "c=1", "z" * 50])
    summary = engine.summary(staged, keys, range(3))
    assert summary == {
        "spanguard.redacted.count": 2,  # findings: the e-mail and the dropped cookie
        "spanguard.redacted.email": 1,
        "spanguard.redacted.dropped": 1,
        "spanguard.redacted.keys": ("note",),
        "spanguard.dropped.keys": ("cookie",),
        "spanguard.truncated.count": 1,
    }
    assert engine.summary(staged, keys, [2]) == {"spanguard.truncated.count": 1}


def test_merge_summary_adds_counts_and_joins_key_lists() -> None:
    earlier = {"spanguard.redacted.count": 2, "spanguard.redacted.keys": ("b", "a"), "other": "x"}
    new = {
        "spanguard.redacted.count": 1,
        "spanguard.redacted.keys": ("c", "a"),
        "spanguard.truncated.count": 4,
    }
    assert merge_summary(earlier, new) == {
        "spanguard.redacted.count": 3,
        "spanguard.redacted.keys": ("a", "b", "c"),
        "spanguard.truncated.count": 4,
        "other": "x",
    }
    # a value of another type (not ours) is replaced, never added to
    assert merge_summary({"spanguard.redacted.count": "two"}, {"spanguard.redacted.count": 1}) == {
        "spanguard.redacted.count": 1
    }


def test_truncation_markers_state_the_length_before_redaction() -> None:
    engine = Engine(Redactor(RedactionConfig()), Truncator(TruncationConfig(max_length=40)))
    value = f"{EMAIL} " + "x" * 100
    (change,), _ = engine.apply(["note"], [value])
    assert change is not None and change.action == MASKED
    assert change.value.startswith("[REDACTED:email]") and f"[truncated {len(value)} chars]" in change.value


def test_per_detector_counts_add_up_across_two_otlp_hops() -> None:
    """Each hop finds one e-mail: the span leaves with `email: 2`, one key each."""
    engine = Engine(Redactor(RedactionConfig(summary="info")), None)
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.name = "span"
    span.attributes.append(key_value("a", f"mail {EMAIL}"))
    apply_to_request(request, engine, exhaustive=True)
    span.attributes.append(key_value("b", f"also {EMAIL} and 555-867-5309"))  # the second hop's new value
    apply_to_request(request, engine, exhaustive=True)
    keys = [kv.key for kv in span.attributes]
    assert len(keys) == len(set(keys)), keys  # OTLP forbids duplicate keys
    found = {kv.key: kv.value.int_value for kv in span.attributes if kv.key.startswith("spanguard.")}
    assert found["spanguard.redacted.email"] == 2
    assert found["spanguard.redacted.count"] == sum(
        v for k, v in found.items() if k != "spanguard.redacted.count"
    )
    assert EMAIL not in str(request)


def test_merge_summary_adds_per_detector_counts() -> None:
    earlier = {"spanguard.redacted.count": 1, "spanguard.redacted.email": 1}
    new = {"spanguard.redacted.count": 2, "spanguard.redacted.email": 1, "spanguard.redacted.phone": 1}
    assert merge_summary(earlier, new) == {
        "spanguard.redacted.count": 3,
        "spanguard.redacted.email": 2,
        "spanguard.redacted.phone": 1,
    }
