"""What the engine says about one value: untouched (None), or a `Change`.

Shared by redaction and truncation so the adapters (SDK spans, OTLP protobuf) apply
both the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


class _Dropped:
    """Sentinel: the attribute is removed."""

    def __repr__(self) -> str:
        return "DROPPED"


DROPPED: Any = _Dropped()

# A redaction marker or hash token: never redacted again (idempotence), never cut in half.
TOKEN = re.compile(r"\[(?:REDACTED:[A-Za-z0-9_.-]+|[A-Za-z][A-Za-z0-9_.-]*:[0-9a-f]{8,64})\]")

# what happened to a value (Change.action)
MASKED, BLOCKED, DROPPED_ACTION, FAILED, TRUNCATED = "masked", "blocked", "dropped", "failed", "truncated"
# Action -> the word in summary attribute names (`spanguard.<word>.keys`); both adapters use it.
ACTION_LABELS = {
    MASKED: "redacted",
    BLOCKED: "blocked",
    DROPPED_ACTION: "dropped",
    FAILED: "failed",
    TRUNCATED: "truncated",
}


@dataclass(slots=True)
class Change:
    """A value the engine changed. `value` is DROPPED when the attribute goes away.
    `detectors` names one detector per finding (two e-mails: `("email", "email")`), so
    the summary counts findings, not values."""

    value: Any
    action: str
    detectors: tuple[str, ...] = ()


# What a value becomes when redacting it raised: fail closed, name no detector.
ERROR_MARKER = "[REDACTED:error]"


@dataclass(slots=True)
class TextResult:
    """One redacted text: the new text, one detector name per finding, whether it failed."""

    text: str
    detectors: tuple[str, ...]
    failed: bool
