"""Identity keys (`user.id`, `session.id`): a detector's finding there becomes a keyed
pseudonym of the whole value, so Phoenix still groups spans by user and session."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from support_front_doors import FRONT_DOORS, FrontDoor, without_summary

EMAIL = "jane.doe@example.com"
KEY = "identity-test-key"


def _pseudonym(value: str, detector: str = "email") -> str:
    return f"[{detector}:{hmac.new(KEY.encode(), value.encode(), hashlib.sha256).hexdigest()[:12]}]"


@pytest.fixture(params=sorted(FRONT_DOORS))
def door(request: pytest.FixtureRequest) -> FrontDoor:
    return FRONT_DOORS[request.param]


def test_identity_values_get_the_keyed_pseudonym(door: FrontDoor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPANGUARD_HASH_KEY", KEY)  # the hash mode's key, read when the config loads
    out = without_summary(
        door(
            {}, {"user.id": EMAIL, "session.id": f"chat-{EMAIL}", "note": f"from {EMAIL}", "other.id": "u-17"}
        )
    )
    assert out["user.id"] == _pseudonym(EMAIL)  # the same in every process holding the key
    assert out["session.id"] == _pseudonym(f"chat-{EMAIL}")
    assert out["note"] == "from [REDACTED:email]"  # other keys keep markers (replacement: marker)
    assert out["other.id"] == "u-17"


def test_without_a_key_grouping_holds_within_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPANGUARD_HASH_KEY", raising=False)
    out = FRONT_DOORS["cli"]({}, {"user.id": EMAIL, "session.id": "s-1"})
    again = FRONT_DOORS["cli"]({}, {"user.id": EMAIL})
    first = out["user.id"]
    assert first.startswith("[email:") and EMAIL not in first and first != _pseudonym(EMAIL)
    assert out["session.id"] == "s-1"  # nothing found: untouched
    assert again["user.id"] != first  # a new process, a new random key: documented fallback
    from spanguard.processors.redaction import Redactor

    redactor = Redactor()
    assert redactor.tokens.identity_key_random
    one, two = redactor.redact(["user.id", "user.id"], [EMAIL, EMAIL])
    assert one is not None and two is not None and one.value == two.value


def test_identity_keys_are_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPANGUARD_HASH_KEY", KEY)
    config = {"redaction": {"identity_keys": ["enduser.id"]}}
    out = without_summary(FRONT_DOORS["otlp"](config, {"enduser.id": EMAIL, "user.id": EMAIL}))
    assert out == {"enduser.id": _pseudonym(EMAIL), "user.id": "[REDACTED:email]"}
