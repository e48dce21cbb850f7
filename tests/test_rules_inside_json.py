"""Key rules reach JSON leaves: attribute key + JSON path, through every front door."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support_front_doors import FRONT_DOORS, FrontDoor, without_summary

EMAIL = "jane.doe@example.com"

DOCUMENT: dict[str, Any] = {
    "user_info": {"given_name": "Jane", "family_name": "Doe", "age": 41},
    "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": f"mail {EMAIL} please", "debug": "trace me"},
    ],
    "meta": {"owner": EMAIL},
}


@pytest.fixture(params=sorted(FRONT_DOORS))
def door(request: pytest.FixtureRequest) -> FrontDoor:
    return FRONT_DOORS[request.param]


def test_block_allow_and_drop_globs_reach_json_members(door: FrontDoor) -> None:
    config = {
        "redaction": {
            "block_keys": ["*.given_name"],
            "drop_keys": ["output.value.messages.*.debug"],
            "allow_keys": ["output.value.meta.owner"],
        }
    }
    out = without_summary(
        door(config, {"output.value": json.dumps(DOCUMENT), "user.given_name": "Bob", "other": "x"})
    )
    assert out["user.given_name"] == "[REDACTED:blocked]"  # the same glob on an attribute key
    assert out["other"] == "x"
    parsed = json.loads(out["output.value"])  # still valid JSON
    assert parsed["user_info"] == {"given_name": "[REDACTED:blocked]", "family_name": "Doe", "age": 41}
    assert parsed["messages"][0] == DOCUMENT["messages"][0]  # siblings untouched
    assert parsed["messages"][1] == {"role": "user", "content": "mail [REDACTED:email] please"}
    assert parsed["meta"] == {"owner": EMAIL}  # allow_keys on a JSON path: left alone


def test_array_indices_are_numbers_in_the_path(door: FrontDoor) -> None:
    # no detector: nothing but the rule can make the sidecar look inside this value
    config = {"redaction": {"block_keys": ["input.value.messages.1.content"], "detectors": "none"}}
    out = without_summary(door(config, {"input.value": json.dumps(DOCUMENT)}))
    parsed = json.loads(out["input.value"])
    assert parsed["messages"][0]["content"] == "be brief"
    assert parsed["messages"][1]["content"] == "[REDACTED:blocked]"
    assert parsed["messages"][1]["debug"] == "trace me"


def test_blocking_a_json_object_masks_its_text_and_keeps_numbers(door: FrontDoor) -> None:
    config = {"redaction": {"block_keys": ["input.value.user_info"], "detectors": "none"}}
    out = without_summary(door(config, {"input.value": json.dumps(DOCUMENT)}))
    parsed = json.loads(out["input.value"])
    assert parsed["user_info"] == {
        "given_name": "[REDACTED:blocked]",
        "family_name": "[REDACTED:blocked]",
        "age": 41,
    }


def test_rules_under_other_keys_leave_json_as_it_was(door: FrontDoor) -> None:
    text = json.dumps(DOCUMENT, indent=1)
    config = {"redaction": {"block_keys": ["llm.*.given_name"], "detectors": "none"}}
    out = without_summary(door(config, {"input.value": text}))
    assert out["input.value"] == text  # byte for byte: nothing matched, nothing rewritten


def test_dropping_a_whole_array_element(door: FrontDoor) -> None:
    config = {"redaction": {"drop_keys": ["input.value.messages.0"], "detectors": "none"}}
    out = without_summary(door(config, {"input.value": json.dumps(DOCUMENT)}))
    parsed = json.loads(out["input.value"])
    assert [m["role"] for m in parsed["messages"]] == ["user"]


# ------------------------------------------------------------------- summary


def _span_summary(door: FrontDoor, config: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
    out = door(config, attributes)
    return {k: v for k, v in out.items() if k.startswith("spanguard.")}


@pytest.mark.parametrize("name", ["sdk", "otlp"])
def test_summary_counts_findings_by_detector(name: str) -> None:
    door = FRONT_DOORS[name]
    prompt = f"{EMAIL}, bob@example.org and +1 415 555 0142; again {EMAIL}"
    config = {"redaction": {"block_keys": ["user.note"]}}
    summary = _span_summary(
        door, config, {"input.value": prompt, "other": "a@b.io", "user.note": "x", "clean": "nothing"}
    )
    assert summary == {
        "spanguard.redacted.count": 6,  # findings, not the 3 values changed
        "spanguard.redacted.email": 4,
        "spanguard.redacted.phone": 1,
        "spanguard.redacted.blocked": 1,
    }


@pytest.mark.parametrize("name", ["sdk", "otlp"])
def test_summary_counts_findings_inside_json(name: str) -> None:
    document = {"messages": [{"content": f"{EMAIL} and {EMAIL}"}], "user": {"given_name": "Jo"}}
    config = {"redaction": {"block_keys": ["*.given_name"]}}
    summary = _span_summary(FRONT_DOORS[name], config, {"input.value": json.dumps(document)})
    assert summary == {
        "spanguard.redacted.count": 3,
        "spanguard.redacted.email": 2,
        "spanguard.redacted.blocked": 1,
    }


def test_a_custom_pattern_cannot_take_a_summary_key_name() -> None:
    from spanguard.config import load_config
    from spanguard.errors import ConfigError

    with pytest.raises(ConfigError, match="reserved"):
        load_config({"redaction": {"custom_patterns": [{"name": "count", "pattern": "x"}]}})
