"""Cutting a JSON value to a length limit so that it stays JSON.

A prefix of `{"messages": [...]}` is not JSON, while `input.mime_type` still says
`application/json`, and it loses the last message (the user's question, the one that
matters). So a JSON object or array over the limit is cut inside its string leaves
instead: the longest leaves are shortened first, all to the same cap (found by bisection),
each ending with the truncation marker stating that leaf's length before the cut. The
structure, every key and every message stay; the result is re-serialized compactly.

If no cap fits (a document made of thousands of numbers or keys), the value becomes a
JSON string holding the plain cut: still valid JSON, still within the limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

_COMPACT = (",", ":")


def _dumps(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, separators=_COMPACT)


def cut_json(text: str, limit: int, cut_text: Callable[[str, int], str]) -> str | None:
    """`text` (a JSON object, array or string longer than `limit`) as valid JSON of at
    most `limit` characters; None when `text` is not JSON (or a bare number, true,
    false or null, which are left to the plain cut)."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if isinstance(document, str):
        return _as_json_string(document, limit, cut_text)
    if not isinstance(document, (dict, list)):
        return None
    compact = _dumps(document)
    if len(compact) <= limit:
        return compact
    leaves: list[tuple[Any, Any, str]] = []
    stack = [document]
    while stack:
        current = stack.pop()
        items: Any = current.items() if isinstance(current, dict) else enumerate(current)
        for slot, child in items:
            if isinstance(child, str):
                leaves.append((current, slot, child))
            elif isinstance(child, (dict, list)):
                stack.append(child)
    if leaves:
        longest = max(len(leaf) for _, _, leaf in leaves)

        def fits(cap: int) -> str | None:
            for container, slot, leaf in leaves:
                container[slot] = cut_text(leaf, cap) if len(leaf) > cap else leaf
            out = _dumps(document)
            return out if len(out) <= limit else None

        low, high = 0, longest  # the largest cap that fits, by bisection
        best = fits(low)
        if best is not None:
            while low < high:
                middle = (low + high + 1) // 2
                found = fits(middle)
                if found is not None:
                    low, best = middle, found
                else:
                    high = middle - 1
            return best
    # no cap fits: the plain cut, as a JSON string
    return _as_json_string(text, limit, cut_text)


def _as_json_string(text: str, limit: int, cut_text: Callable[[str, int], str]) -> str:
    """`text` cut so that its JSON string form fits `limit` (escapes make it longer)."""
    budget = max(0, limit - 2)
    while budget > 0:
        out = json.dumps(cut_text(text, budget), ensure_ascii=False)
        if len(out) <= limit:
            return out
        budget = min(budget - 1, budget - (len(out) - limit))
    return '""'
