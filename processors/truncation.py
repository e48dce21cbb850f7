"""Size control: cut long values, long arrays and bulky keys before they leave.

Runs after redaction, so a secret that straddles the cut is masked before it is cut.
Limits count characters of `str` (code points), never bytes, so a cut never splits a
character; a cut also never splits a redaction marker (`[REDACTED:email]`), which
would leave a half marker that reads like data. The marker states the ORIGINAL size:
`…[truncated 48211 chars]`, and the whole result, marker included, fits the limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from spanguard.config.model import TruncationConfig
from spanguard.processors.changes import DROPPED, DROPPED_ACTION, TOKEN, TRUNCATED, Change
from spanguard.processors.json_truncation import cut_json
from spanguard.processors.key_rules import GlobSet, KeyCache, glob_specificity
from spanguard.processors.values import all_strings

_SHORT_MARKER = "…[truncated]"
_DROP = -1


def truncation_marker(original_length: int, unit: str = "chars") -> str:
    return f"…[truncated {original_length} {unit}]"


def cut_text(text: str, limit: int, original_length: int | None = None) -> str:
    """`text` cut to at most `limit` characters, ending with the marker, which states
    `original_length` (the length before redaction, when known) or the length of `text`."""
    marker = truncation_marker(len(text) if original_length is None else original_length)
    if len(marker) > limit:
        marker = _SHORT_MARKER if len(_SHORT_MARKER) <= limit else _SHORT_MARKER[:limit]
    keep = max(0, limit - len(marker))
    # never leave half a redaction marker behind
    opening = text.rfind("[", max(0, keep - 80), keep)
    if opening >= 0:
        token = TOKEN.match(text, opening)
        if token is not None and token.end() > keep:
            keep = opening
    return text[:keep] + marker


def cut_bytes(data: bytes, limit: int) -> bytes:
    marker = truncation_marker(len(data), "bytes").encode("utf-8")
    if len(marker) > limit:
        marker = _SHORT_MARKER.encode("utf-8")[:limit]
    return data[: max(0, limit - len(marker))] + marker


class Truncator:
    """Applies `TruncationConfig` to plain attribute values, many per call."""

    def __init__(self, config: TruncationConfig | None = None) -> None:
        self.config = config or TruncationConfig()
        self._drop = GlobSet(self.config.drop_keys)
        # most specific glob first, so the first match is the winner
        self._by_key = sorted(
            ((GlobSet([glob]), limit) for glob, limit in self.config.max_length_by_key.items()),
            key=lambda item: glob_specificity(item[0].globs[0]),
            reverse=True,
        )
        self._limit = KeyCache(self._decide)
        self._smallest_limit: dict[tuple[str | None, ...], int] = {}
        self.max_list_items = self.config.max_list_items

    def _decide(self, key: str) -> int:
        if self._drop.matches(key):
            return _DROP
        for globs, limit in self._by_key:
            if globs.matches(key):
                return limit
        return self.config.max_length

    def limit_for(self, key: str | None) -> int:
        """The character limit for a key (None: the default); -1 means dropped."""
        return self.config.max_length if key is None else self._limit(key)

    def drops(self, key: str) -> bool:
        return self.config.enabled and self.limit_for(key) == _DROP

    def truncate(
        self, keys: Sequence[str | None], values: Sequence[Any], originals: Sequence[Any] | None = None
    ) -> list[Change | None]:
        """One Change (or None: untouched) per value; cheap for values under the limit.

        `originals`: the values before redaction, when the caller has them, so a marker
        states the original length rather than the length after masking."""
        results: list[Change | None] = [None] * len(values)
        if not self.config.enabled:
            return results
        if self._all_short(keys, values):
            return results
        cached = self._limit.cached
        default = self.config.max_length
        for index, key in enumerate(keys):
            value = values[index]
            if key is None:
                limit = default
            else:
                limit = cached(key, 0)
                if limit == 0:
                    limit = self._limit(key)
            if value.__class__ is str:  # the common case, kept tight
                if len(value) > limit >= 0:
                    results[index] = Change(self._cut(value, limit, originals, index), TRUNCATED)
                elif limit == _DROP:
                    results[index] = Change(DROPPED, DROPPED_ACTION)
                continue
            if limit == _DROP:
                results[index] = Change(DROPPED, DROPPED_ACTION)
            elif isinstance(value, (bool, int, float)) or value is None:
                continue
            else:
                new = self._truncate_other(key, value, limit)
                if new is not value:
                    results[index] = Change(new, TRUNCATED)
        return results

    def _all_short(self, keys: Sequence[str | None], values: Sequence[Any]) -> bool:
        """No dropped key, every value a string within the smallest limit of its keys?
        (Most spans: answered without a per-value Python loop.)"""
        signature = tuple(keys)
        smallest = self._smallest_limit.get(signature)
        if smallest is None:
            smallest = min((self.limit_for(key) for key in signature), default=self.config.max_length)
            if len(self._smallest_limit) >= 4096:
                self._smallest_limit.clear()
            self._smallest_limit[signature] = smallest
        if smallest < 0 or not all_strings(values):
            return False
        return not values or max(map(len, values)) <= smallest

    def _cut(self, value: str, limit: int, originals: Sequence[Any] | None, index: int) -> str:
        """A JSON object or array stays valid JSON (cut inside its leaves); text is cut."""
        if self.config.json_values and value.lstrip()[:1] in ("{", "[", '"'):
            cut = cut_json(value, limit, cut_text)
            if cut is not None:
                return cut
        original = originals[index] if originals is not None else None
        return cut_text(value, limit, len(original) if isinstance(original, str) else None)

    def truncate_value(self, key: str | None, value: Any) -> Change | None:
        return self.truncate([key], [value])[0]

    def _truncate_other(self, key: str | None, value: Any, limit: int) -> Any:
        """Bytes, arrays and nested mappings; returns `value` itself when nothing changed."""
        if isinstance(value, bytes):
            return cut_bytes(value, limit) if len(value) > limit else value
        if isinstance(value, (list, tuple)):
            items = value[: self.max_list_items]
            changed = len(items) != len(value)
            out = []
            for item in items:
                if isinstance(item, str) and len(item) > limit:
                    item = cut_text(item, limit)
                    changed = True
                elif isinstance(item, bytes) and len(item) > limit:
                    item = cut_bytes(item, limit)
                    changed = True
                out.append(item)
            return tuple(out) if changed else value
        if isinstance(value, Mapping):
            inner = list(value)
            prefix = "" if key is None else key + "."
            changes = self.truncate([prefix + str(k) for k in inner], [value[k] for k in inner])
            if not any(changes):
                return value
            return {
                k: (value[k] if c is None else c.value)
                for k, c in zip(inner, changes, strict=True)
                if c is None or c.value is not DROPPED
            }
        return value
