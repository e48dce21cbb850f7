"""Properties of redaction over arbitrary input (hypothesis): it never raises, it is
idempotent, it keeps JSON valid, and truncation respects its limit."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spanguard.config.model import RedactionConfig, TruncationConfig
from spanguard.processors.redaction import Redactor
from spanguard.processors.truncation import Truncator, cut_text

ALL = Redactor(RedactionConfig(detectors="all"))
DEFAULT = Redactor(RedactionConfig())

# text that looks like traces: fragments of secrets and look-alikes glued with noise
FRAGMENTS = st.sampled_from(
    [
        "jane@example.com",
        "+1 415 555 0142",
        "4111 1111 1111 1111",
        "DE89 3704 0044 0532 0130 00",
        "123-45-6789",
        "10.0.0.7",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijkl",
        "AKIAIOSFODNN7EXAMPLE",
        "sk-proj-Abc123def456GHI789jkl012",
        "-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----",
        "Authorization: Bearer abcdefghijklmnop",
        "https://u:pw@host/x",
        "password=hunter22",
        '"password": "x"',
        # candidates a validator refuses, whose runs may swallow what follows them
        "token_count=12",
        "max_tokens=",
        "password=${DB_PASSWORD}",
        "ref 123456789",
        "0502-9466",
        "paſſword=x",
        "[REDACTED:email]",
        "[email:0123456789ab]",
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "2024-01-15T10:30:00Z",
        " ",
        "\n",
        "\x00",
        "@",
        ":",
        "{",
        "}",
        '"',
        "\\",
        "\\u00e9",
        "é",
        "😀",
        "中文",
    ]
)
TEXT = st.one_of(
    st.text(),
    st.lists(st.one_of(FRAGMENTS, st.text(max_size=8)), max_size=12).map("".join),
)
JSON_VALUES = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), TEXT
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(TEXT, st.sampled_from(["password", "api_key"])), children, max_size=4),
    ),
    max_leaves=12,
)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(
    st.lists(st.one_of(TEXT, st.binary(max_size=64), st.lists(TEXT, max_size=3), st.integers()), max_size=8)
)
def test_redaction_never_raises(values: list[Any]) -> None:
    keys = [f"k{i}" for i in range(len(values))]
    for redactor in (ALL, DEFAULT):
        changes = redactor.redact(keys, values)
        assert len(changes) == len(values)
        for change in changes:
            assert change is None or change.action != "failed"


@FAST
@given(TEXT)
def test_redaction_is_idempotent(text: str) -> None:
    once = ALL.redact_text(text)
    assert ALL.redact_text(once) == once


@FAST
@given(st.lists(TEXT, min_size=1, max_size=6))
def test_batch_equals_one_by_one(texts: list[str]) -> None:
    """Joining values into one buffer must not change what is found in each."""
    batch = ALL.redact([None] * len(texts), texts)
    for text, change in zip(texts, batch, strict=True):
        alone = ALL.redact_text(text)
        assert (text if change is None else change.value) == alone


# values with no whitespace: a candidate's run goes on across the separator into the
# next value, so refused candidates sit next to real matches of every detector
NO_SPACE = st.sampled_from(
    [
        "token_count=12",
        "password=hunter22",
        "jane@example.com",
        "paſſword=x",
        "password=${DB_PASSWORD}",
        "4111111111111111",
        "0502-9466",
        "+14155550142",
        "sk-proj-Abc123def456GHI789jkl012",
        "x",
        "",
    ]
)


@FAST
@given(st.lists(NO_SPACE, min_size=2, max_size=6))
def test_batch_of_runs_across_values_equals_one_by_one(texts: list[str]) -> None:
    """Found by hypothesis in the sidecar: a refused `token_count=12` whose run swallowed
    `password=hunter22` and an e-mail made the scan skip the password."""
    batch = ALL.redact([None] * len(texts), texts)
    for text, change in zip(texts, batch, strict=True):
        assert (text if change is None else change.value) == ALL.redact_text(text)


@FAST
@given(JSON_VALUES.filter(lambda v: isinstance(v, (list, dict))))
def test_json_stays_valid_json(document: Any) -> None:
    text = json.dumps(document)
    out = ALL.redact_text(text)
    json.loads(out)
    assert ALL.redact_text(out) == out


@FAST
@given(st.text(min_size=0, max_size=400), st.integers(min_value=16, max_value=300))
def test_truncation_respects_the_limit(text: str, limit: int) -> None:
    truncator = Truncator(TruncationConfig(max_length=limit))
    change = truncator.truncate_value("k", text)
    if len(text) <= limit:
        assert change is None
    else:
        assert change is not None and len(change.value) <= limit
        assert change.value == cut_text(text, limit)
        prefix = change.value[: change.value.rfind("…")]
        assert text.startswith(prefix)
