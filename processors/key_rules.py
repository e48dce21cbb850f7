"""Glob rules on flattened attribute keys, resolved once per key.

Keys repeat across millions of spans (`llm.input_messages.3.message.content`), so the
verdict for a key is cached; the globs of one rule list are compiled into a single
Python regex (fnmatch semantics: `*` also crosses dots, as users expect for
`llm.input_messages.*.message.content`).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Verdict = TypeVar("Verdict")

# What redaction does with a key (attribute key, or attribute key + JSON path)
SCAN, ALLOW, DROP, BLOCK, SECRET_NAME, HIDE, SQL = range(7)  # HIDE: a preset's block; SQL: sanitize

_WILDCARD = re.compile(r"[*?\[]")

_CACHE_LIMIT = 65536  # distinct keys; cleared when full so a key explosion cannot grow memory


class GlobSet:
    """Does a key match any of these globs?"""

    def __init__(self, globs: Sequence[str]) -> None:
        self.globs = tuple(globs)
        self._regex = re.compile("|".join(fnmatch.translate(g) for g in self.globs)) if self.globs else None

    def __bool__(self) -> bool:
        return self._regex is not None

    def matches(self, key: str) -> bool:
        return self._regex is not None and self._regex.match(key) is not None

    def may_match_below(self, key: str) -> bool:
        """Could a glob match a key under `key` (`key.` + a JSON path)? Conservative: a
        glob whose literal start is not a prefix of `key.`, nor starts with it, cannot."""
        below = key + "."
        for glob in self.globs:
            literal = _WILDCARD.split(glob, 1)[0]
            if literal.startswith(below) or below.startswith(literal):
                return True
        return False


def glob_specificity(glob: str) -> tuple[int, int]:
    """Most specific glob wins: more literal characters first, then longer."""
    literal = sum(1 for char in glob if char not in "*?[]")
    return literal, len(glob)


class KeyCache(Generic[Verdict]):
    """Memoises `decide(key)`; bounded."""

    def __init__(self, decide: Callable[[str], Verdict]) -> None:
        self._decide = decide
        self._cache: dict[str, Verdict] = {}
        self.cached = self._cache.get  # hot loops look up first and call only on a miss

    def __call__(self, key: str) -> Verdict:
        try:
            return self._cache[key]
        except KeyError:
            pass
        verdict = self._decide(key)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = verdict
        return verdict
