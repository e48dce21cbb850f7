"""JSON-aware truncation: a JSON value over its limit stays valid JSON within the limit,
keeps its messages (the last one too), and markers state original lengths."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support_front_doors import FRONT_DOORS, FrontDoor, without_summary

from spanguard.config.model import RedactionConfig, TruncationConfig
from spanguard.processors.changes import BLOCKED, DROPPED, DROPPED_ACTION
from spanguard.processors.redaction import Redactor
from spanguard.processors.truncation import Truncator

EMAIL = "jane.doe@example.com"

CHAT = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You answer questions about the handbook. " + "rule " * 300},
        {"role": "assistant", "content": "Earlier answer. " + "blah " * 200},
        {"role": "user", "content": f"I am {EMAIL}; what is the leave policy?"},
    ],
    "temperature": 0.2,
}


@pytest.fixture(params=sorted(FRONT_DOORS))
def door(request: pytest.FixtureRequest) -> FrontDoor:
    return FRONT_DOORS[request.param]


def test_chat_json_is_cut_inside_its_leaves(door: FrontDoor) -> None:
    config = {"truncation": {"max_length": 600}}
    text = json.dumps(CHAT)
    out = without_summary(door(config, {"input.value": text, "input.mime_type": "application/json"}))
    value = out["input.value"]
    assert len(value) <= 600
    parsed = json.loads(value)  # valid JSON, as input.mime_type says
    assert out["input.mime_type"] == "application/json"
    assert parsed["model"] == "gpt-4o-mini" and parsed["temperature"] == 0.2
    assert [m["role"] for m in parsed["messages"]] == ["system", "assistant", "user"]
    # the last (user) message is short: kept whole, redacted
    assert parsed["messages"][2]["content"] == "I am [REDACTED:email]; what is the leave policy?"
    # the longest leaves were shortened, each with the marker of its own original length
    system = parsed["messages"][0]["content"]
    assert system.startswith("You answer questions") and system.endswith(
        f"…[truncated {len(CHAT['messages'][0]['content'])} chars]"
    )
    assert parsed["messages"][1]["content"].endswith(
        f"[truncated {len(CHAT['messages'][1]['content'])} chars]"
    )


def test_plain_text_marker_states_the_length_before_redaction(door: FrontDoor) -> None:
    text = f"contact {EMAIL} " + "x" * 200
    out = without_summary(door({"truncation": {"max_length": 64}}, {"note": text}))
    assert out["note"].startswith("contact [REDACTED:email]")
    assert out["note"].endswith(f"…[truncated {len(text)} chars]")  # not the masked length
    assert len(out["note"]) <= 64


def test_json_that_cannot_fit_becomes_a_json_string_within_the_limit(door: FrontDoor) -> None:
    numbers = json.dumps(list(range(400)))  # no leaf to shorten
    out = without_summary(door({"truncation": {"max_length": 40}}, {"output.value": numbers}))
    value = out["output.value"]
    assert len(value) <= 40
    assert isinstance(json.loads(value), str) and "[truncated" in json.loads(value)


# ------------------------------------------------------------------ properties

_KEYS = st.sampled_from(["content", "role", "name", "given_name", "password", "data", "0", "a.b"])
_LEAVES = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [EMAIL, "4111 1111 1111 1111", '"quoted"\\', "\u00e9\u4e2d\U0001f600", "[REDACTED:email]"]
    ),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
_CONTAINERS = st.recursive(
    _LEAVES,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(_KEYS, children, max_size=6),
    max_leaves=40,
)
# what a JSON attribute holds: an object, an array or a string (a bare number, true,
# false or null is treated as text, and never longer than 24 characters)
JSON_VALUES = _CONTAINERS.filter(lambda value: isinstance(value, (dict, list, str)))
_GLOBS = st.sampled_from(
    ["*.given_name", "input.value.*", "input.value.0", "input.value.*.content", "*.password", "*", "x.*"]
)
RULES = st.fixed_dictionaries(
    {
        "allow_keys": st.lists(_GLOBS, max_size=2),
        "block_keys": st.lists(_GLOBS, max_size=2),
        "drop_keys": st.lists(_GLOBS, max_size=2),
        "detectors": st.sampled_from(["default", "none", "all"]),
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=JSON_VALUES, rules=RULES, limit=st.integers(min_value=16, max_value=400))
def test_any_json_and_any_rules_give_valid_json_within_the_limit(
    document: Any, rules: dict[str, Any], limit: int
) -> None:
    text = json.dumps(document, ensure_ascii=False)
    redactor = Redactor(RedactionConfig(**rules))
    truncator = Truncator(TruncationConfig(max_length=limit, drop_keys=[]))
    value: Any = text
    redacted = redactor.redact(["input.value"], [text])[0]
    if redacted is not None:
        value = redacted.value
        if redacted.action in (BLOCKED, DROPPED_ACTION):  # a rule on the attribute key itself
            assert value in ("[REDACTED:blocked]", "[REDACTED:password]", DROPPED)
            return
    json.loads(value)  # rules and detectors inside the JSON keep it valid
    cut = truncator.truncate(["input.value"], [value], [text])[0]
    out = value if cut is None else cut.value
    assert len(out) <= limit or (cut is None and len(value) <= limit)
    assert len(out) <= limit
    json.loads(out)  # and so does truncation
