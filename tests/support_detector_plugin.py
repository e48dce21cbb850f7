"""Detector plug-ins for the tests: real callables of the `custom_detectors` contract.

`find_people` stands in for an NER model the way a user's own recognizer would: it
returns character spans of known first/last name pairs. `broken` raises, to show that
a failing plug-in masks the value rather than letting it through.
"""

from __future__ import annotations

import re

_PEOPLE = re.compile(r"\b(?:Alice|Bob|Zoë|Jean-Luc) (?:Martin|Smith|Dupont|Picard)\b")


def find_people(text: str) -> list[tuple[int, int]]:
    return [match.span() for match in _PEOPLE.finditer(text)]


def broken(text: str) -> list[tuple[int, int]]:
    raise RuntimeError("model not loaded")


def out_of_range(text: str) -> list[tuple[int, int]]:
    return [(0, len(text) + 5)]


not_callable = 42
