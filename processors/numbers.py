"""Integers that are card numbers: numeric attribute values checked by the number detectors.

A card number stored as an integer attribute (`payment.card: 4111111111111111`) never
reaches a text scan. As the Collector's `redact_all_types`, integers and arrays of
integers are looked at too: the decimal form of an integer is scanned with the detectors
that find digit-only secrets (`credit_card`, Luhn-checked; `us_ssn` and `iban` need
dashes or letters, so an integer never matches them, as the same digits in text would
not). A match replaces the whole value by its marker, a string; in an array every
element becomes a string, so the array keeps one type.

Only integers of 13 digits or more can be cards, so counters and token counts cost one
comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spanguard.processors.detectors import Detector
from spanguard.processors.scanner import Scanner

NUMBER_DETECTORS = ("credit_card", "us_ssn", "iban")
_SMALLEST = 10**12  # 13 digits: the shortest card number


def big(value: Any) -> bool:
    """An int (not a bool) long enough to be checked."""
    return value.__class__ is int and (value >= _SMALLEST or value <= -_SMALLEST)


class NumberCheck:
    """Which number detector, if any, matches an integer's decimal form in full."""

    def __init__(self, detectors: Sequence[Detector]) -> None:
        chosen = [d for d in detectors if d.name in NUMBER_DETECTORS]
        self._names = [d.name for d in chosen]
        self._scanner = Scanner(chosen) if chosen else None

    def __bool__(self) -> bool:
        return self._scanner is not None

    def detector(self, value: int) -> str | None:
        if self._scanner is None:
            return None
        data = str(abs(value)).encode("ascii")
        for finding in self._scanner.scan(data):
            if finding.start == 0 and finding.end == len(data):
                return self._names[finding.detector]
        return None
