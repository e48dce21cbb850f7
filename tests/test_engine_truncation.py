"""The Truncator on plain values: limits by key, markers, lists, drops."""

from __future__ import annotations

import pytest

from spanguard.config.model import TruncationConfig
from spanguard.processors.changes import DROPPED
from spanguard.processors.truncation import Truncator, cut_text


def test_long_string_is_cut_to_the_limit_with_the_original_size() -> None:
    truncator = Truncator(TruncationConfig(max_length=100))
    change = truncator.truncate_value("input.value", "x" * 48211)
    assert change is not None
    assert change.value.endswith("…[truncated 48211 chars]")
    assert len(change.value) == 100
    assert change.value.startswith("x" * 70)
    assert truncator.truncate_value("input.value", "y" * 100) is None  # at the limit: untouched


def test_most_specific_key_limit_wins() -> None:
    truncator = Truncator(
        TruncationConfig(
            max_length=1000,
            max_length_by_key={"llm.*": 200, "llm.input_messages.*.message.content": 50, "*": 500},
        )
    )
    assert truncator.limit_for("llm.input_messages.0.message.content") == 50
    assert truncator.limit_for("llm.model_name") == 200
    assert truncator.limit_for("other") == 500
    assert truncator.limit_for(None) == 1000


def test_never_splits_a_character() -> None:
    text = "é😀中" * 400
    out = cut_text(text, 101)
    assert len(out) <= 101
    assert out.endswith("…[truncated 1200 chars]")
    assert text.startswith(out[: out.index("…")])
    out.encode("utf-8")  # whole code points only


def test_never_splits_a_redaction_marker() -> None:
    text = "a" * 70 + "[REDACTED:email]" + "b" * 100
    out = cut_text(text, 100)
    assert len(out) <= 100
    assert "[REDACTED:" not in out  # the marker straddled the cut: cut before it
    assert out.startswith("a" * 70)


def test_tiny_limits_still_respect_the_limit() -> None:
    out = cut_text("z" * 10**7, 16)
    assert len(out) <= 16 and out.startswith("z")


def test_lists_bytes_and_drops() -> None:
    truncator = Truncator(TruncationConfig(max_length=20, max_list_items=3))
    changes = truncator.truncate(
        ["tags", "raw", "embedding.embeddings.0.embedding.vector", "n", "short"],
        [("a" * 30, "b", "c", "d"), b"\x00" * 50, (0.1, 0.2), 7, "ok"],
    )
    assert changes[0] is not None and changes[0].value[1:] == ("b", "c") and len(changes[0].value[0]) <= 20
    assert changes[1] is not None and len(changes[1].value) <= 20 and b"[truncated" in changes[1].value
    assert changes[2] is not None and changes[2].value is DROPPED  # default drop_keys
    assert changes[3] is None and changes[4] is None


def test_nested_mapping_values() -> None:
    truncator = Truncator(TruncationConfig(max_length=20, drop_keys=["m.secret"]))
    change = truncator.truncate_value("m", {"secret": "s", "long": "q" * 40, "fine": "ok"})
    assert change is not None
    assert set(change.value) == {"long", "fine"} and len(change.value["long"]) <= 20


def test_bytes_marker_states_the_original_size() -> None:
    change = Truncator(TruncationConfig(max_length=100)).truncate_value("raw", b"\x01" * 5000)
    assert (
        change is not None and len(change.value) <= 100 and change.value.endswith(b"[truncated 5000 bytes]")
    )


def test_disabled_truncator_changes_nothing() -> None:
    assert Truncator(TruncationConfig(enabled=False)).truncate(["a"], ["x" * 10**6]) == [None]


@pytest.mark.parametrize("limit", [16, 17, 30, 64, 1000])
def test_result_length_never_exceeds_limit(limit: int) -> None:
    for size in (limit + 1, limit * 3, 10**5):
        assert len(cut_text("w" * size, limit)) <= limit
