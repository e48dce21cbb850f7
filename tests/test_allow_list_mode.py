"""Fail-closed allow-list mode (`allow_all_keys: false` + `allowed_keys`), as the
Collector's redaction processor: only listed keys survive; the rest is removed and
counted. Through every front door."""

from __future__ import annotations

import json

import pytest
from support_front_doors import FRONT_DOORS, FrontDoor, without_summary

EMAIL = "jane.doe@example.com"
CONFIG = {
    "redaction": {
        "allow_all_keys": False,
        "allowed_keys": ["llm.model_name", "llm.token_count.*", "input.value"],
        "allow_keys": ["service.version"],
    }
}
SPAN = {
    "llm.model_name": "gpt-4o-mini",
    "llm.token_count.total": 42,
    "input.value": json.dumps({"messages": [{"content": f"mail {EMAIL}"}]}),
    "service.version": f"1.2 by {EMAIL}",
    "user.email": EMAIL,
    "db.statement": "SELECT 1",
    "new.attribute.nobody.listed": "anything",
}


@pytest.fixture(params=sorted(FRONT_DOORS))
def door(request: pytest.FixtureRequest) -> FrontDoor:
    return FRONT_DOORS[request.param]


def test_only_listed_keys_survive_and_are_still_scanned(door: FrontDoor) -> None:
    out = without_summary(door(CONFIG, dict(SPAN)))
    assert set(out) == {"llm.model_name", "llm.token_count.total", "input.value", "service.version"}
    assert out["llm.token_count.total"] == 42
    # listed keys are still redacted, inside JSON too; JSON members are not allow-listed
    assert json.loads(out["input.value"]) == {"messages": [{"content": "mail [REDACTED:email]"}]}
    assert out["service.version"] == f"1.2 by {EMAIL}"  # allow_keys: never touched


@pytest.mark.parametrize("name", ["sdk", "otlp"])
def test_removed_keys_are_counted(name: str) -> None:
    out = FRONT_DOORS[name](CONFIG, dict(SPAN))
    assert out["spanguard.redacted.dropped"] == 3
    assert out["spanguard.redacted.email"] == 1
    assert out["spanguard.redacted.count"] == 4


def test_default_keeps_every_key(door: FrontDoor) -> None:
    out = without_summary(door({"redaction": {"allowed_keys": ["llm.model_name"]}}, {"a": "1", "b": "2"}))
    assert out == {"a": "1", "b": "2"}  # allowed_keys alone changes nothing: allow_all_keys is true
