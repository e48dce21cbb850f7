"""Redaction of JSON-valued attributes (`input.value`, tool arguments): leaves, not bytes.

A JSON document is parsed, its string leaves (and its object keys, which can be data
too: `{"jane@x.io": ...}`) are redacted through the same batch scan as any text, and the
document is written back, so the result stays valid JSON with its shape intact.

A value that merely looks like JSON (starts with `{` or `[`) but does not parse is
reported as `NOT_JSON`, an explicit result, and the caller scans it as plain text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

from spanguard.processors.changes import ERROR_MARKER, TOKEN, TextResult
from spanguard.processors.detectors import SECRET_KEY_NAME
from spanguard.processors.key_rules import ALLOW, BLOCK, DROP, HIDE, SCAN, SQL
from spanguard.processors.numbers import NumberCheck, big
from spanguard.processors.sql import sanitize_sql
from spanguard.processors.tokens import Tokens

JSON_OPENERS = ("{", "[")

# (texts, protect) -> one TextResult or None per text; the redactor's batch scan
TextRedactor = Callable[[list[str], "list[int] | None"], "list[TextResult | None]"]


class NotJson:
    """The value is not a JSON object or array: redact it as plain text."""

    _instance: NotJson | None = None

    def __new__(cls) -> NotJson:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_JSON"


NOT_JSON: Final = NotJson()

JsonOutcome = TextResult | NotJson | None  # None: JSON, nothing changed


def looks_like_json(text: str) -> bool:
    return text.lstrip()[:1] in JSON_OPENERS


class JsonValues:
    """Redacts the leaves of JSON documents with the redactor's batch scan.

    With the attribute key given, each member also gets a key of its own, the attribute
    key plus its JSON path, dot-joined (`output.value.messages.0.content`), and the
    redactor's key rules apply to it as to an attribute key: `allow_keys` leaves the
    member alone, `drop_keys` removes it, `block_keys` masks its text whole.
    """

    def __init__(
        self,
        tokens: Tokens,
        redact_texts: TextRedactor,
        allowed_value: Callable[[str], bool],
        secret_names: bool,
        verdict: Callable[[str], int],
        numbers: NumberCheck | None = None,
    ) -> None:
        self._tokens = tokens
        self._redact_texts = redact_texts
        self._allowed_value = allowed_value
        self._secret_names = secret_names
        self._verdict = verdict
        self._numbers = numbers if numbers else None

    def redact(self, text: str, key: str | None = None) -> JsonOutcome:
        """Redact a JSON document's leaves (key rules on `key` + path when `key` is given);
        NOT_JSON when `text` is not a JSON object or array."""
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            return NOT_JSON
        if not isinstance(document, (dict, list)):
            return NOT_JSON
        walk = _Walk()
        self._leaves(document, key, walk)
        detectors = walk.detectors
        failed = False
        changed = bool(detectors)
        for container, slot, leaf in walk.whole:
            if TOKEN.fullmatch(leaf) or self._allowed_value(leaf):
                continue
            container[slot] = self._tokens.token("password", leaf)
            detectors.append("password")
            changed = True
        leaves = walk.leaves
        if leaves:
            # each leaf is scanned behind its key ("authorization: Basic ...") so detectors
            # that need the key as context see it; only the leaf part is ever replaced
            prefixes = [f"{slot}: " if isinstance(slot, str) else "" for _, slot, _ in leaves]
            outcomes = self._redact_texts(
                [prefix + leaf for prefix, (_, _, leaf) in zip(prefixes, leaves, strict=True)],
                [len(prefix) for prefix in prefixes],
            )
            for prefix, (container, slot, _), outcome in zip(prefixes, leaves, outcomes, strict=True):
                if outcome is not None:
                    container[slot] = ERROR_MARKER if outcome.failed else outcome.text[len(prefix) :]
                    detectors.extend(outcome.detectors)
                    failed = failed or outcome.failed
                    changed = True
        for container, slots in walk.drops.values():
            if isinstance(container, dict):
                for slot in slots:
                    del container[slot]
            else:  # later indexes first, so earlier ones stay valid
                for slot in sorted(slots, reverse=True):
                    del container[slot]
        names = walk.names
        if names:
            outcomes = self._redact_texts([name for _, name in names], None)
            renames: dict[int, tuple[dict[str, Any], dict[str, str]]] = {}
            for (container, name), outcome in zip(names, outcomes, strict=True):
                if outcome is not None:
                    new_name = ERROR_MARKER if outcome.failed else outcome.text
                    renames.setdefault(id(container), (container, {}))[1][name] = new_name
                    detectors.extend(outcome.detectors)
                    failed = failed or outcome.failed
                    changed = True
            for container, mapping in renames.values():
                rename_keys(container, mapping)
        if not changed:
            return None
        return TextResult(json.dumps(document, ensure_ascii=False), tuple(detectors), failed)

    def _leaves(self, node: Any, key: str | None, walk: _Walk) -> None:
        """Sort every member into the walk: scanned, masked whole, blocked, dropped or left."""
        stack: list[tuple[Any, str | None]] = [(node, key)]
        verdict_of = self._verdict
        while stack:
            current, path = stack.pop()
            is_object = isinstance(current, dict)
            items: Any = current.items() if is_object else enumerate(current)
            slot: Any
            for slot, child in items:
                verdict = SCAN
                child_path = None
                if path is not None:
                    child_path = f"{path}.{slot}"
                    verdict = verdict_of(child_path)
                    if verdict == ALLOW:
                        continue
                    if verdict == DROP:
                        walk.drops.setdefault(id(current), (current, []))[1].append(slot)
                        walk.detectors.append("dropped")
                        continue
                    if verdict in (BLOCK, HIDE):
                        if is_object:
                            walk.names.append((current, slot))
                        name = "hidden" if verdict == HIDE else "blocked"
                        walk.detectors.extend([name] * self._block(current, slot, child, name))
                        continue
                if is_object:
                    walk.names.append((current, slot))
                if verdict == SQL and isinstance(child, str):  # a tool's SQL argument
                    child, count = sanitize_sql(child)
                    if count:
                        current[slot] = child
                        walk.detectors.extend(["sql_literal"] * count)
                if isinstance(child, str):
                    secret_key = (
                        self._secret_names and is_object and SECRET_KEY_NAME.fullmatch(slot) is not None
                    )
                    (walk.whole if secret_key else walk.leaves).append((current, slot, child))
                elif isinstance(child, (dict, list)):
                    stack.append((child, child_path))
                elif self._numbers is not None and big(child):  # a card as a JSON number
                    found = self._numbers.detector(child)
                    if found is not None:
                        current[slot] = self._tokens.token(found, str(child))
                        walk.detectors.append(found)

    def _block(self, container: Any, slot: Any, child: Any, name: str) -> int:
        """Mask every string at and under `container[slot]` (numbers stay, as for
        attributes); returns how many were masked."""
        if isinstance(child, str):
            if TOKEN.fullmatch(child):
                return 0
            container[slot] = self._tokens.token(name, child)
            return 1
        masked = 0
        if isinstance(child, dict):
            for member in list(child):
                masked += self._block(child, member, child[member], name)
        elif isinstance(child, list):
            for index, item in enumerate(child):
                masked += self._block(child, index, item, name)
        return masked


class _Walk:
    """What one walk over a document found to do."""

    __slots__ = ("detectors", "drops", "leaves", "names", "whole")

    def __init__(self) -> None:
        self.leaves: list[tuple[Any, Any, str]] = []  # (container, key/index, text): scanned
        self.whole: list[tuple[Any, Any, str]] = []  # leaves under a secret-named key
        self.names: list[tuple[dict[str, Any], str]] = []  # object keys: data too ({"jane@x.io": ...})
        self.drops: dict[int, tuple[Any, list[Any]]] = {}  # id(container) -> (container, slots)
        self.detectors: list[str] = []  # what blocked/dropped members add


def rename_keys(container: dict[str, Any], renames: dict[str, str]) -> None:
    """Rename object keys in place, keeping order; two keys masked alike stay two keys."""
    items = list(container.items())
    container.clear()
    for name, value in items:
        new_name = renames.get(name, name)
        candidate, suffix = new_name, 2
        while candidate in container:
            candidate = f"{new_name}#{suffix}"
            suffix += 1
        container[candidate] = value
