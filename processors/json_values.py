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
    """Redacts the leaves of JSON documents with the redactor's batch scan."""

    def __init__(
        self,
        tokens: Tokens,
        redact_texts: TextRedactor,
        allowed_value: Callable[[str], bool],
        secret_names: bool,
    ) -> None:
        self._tokens = tokens
        self._redact_texts = redact_texts
        self._allowed_value = allowed_value
        self._secret_names = secret_names

    def redact(self, text: str) -> JsonOutcome:
        """Redact the string leaves of a JSON document; NOT_JSON when `text` is not one."""
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            return NOT_JSON
        if not isinstance(document, (dict, list)):
            return NOT_JSON
        leaves: list[tuple[Any, Any, str]] = []  # (container, key/index, text)
        whole: list[tuple[Any, Any, str]] = []  # leaves under a secret-named key
        names: list[tuple[dict[str, Any], str]] = []  # object keys: data too ({"jane@x.io": ...})
        self._leaves(document, leaves, whole, names)
        detectors: list[str] = []
        failed = False
        changed = False
        for container, slot, leaf in whole:
            if TOKEN.fullmatch(leaf) or self._allowed_value(leaf):
                continue
            container[slot] = self._tokens.token("password", leaf)
            detectors.append("password")
            changed = True
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
        return TextResult(json.dumps(document, ensure_ascii=False), tuple(dict.fromkeys(detectors)), failed)

    def _leaves(
        self,
        node: Any,
        leaves: list[tuple[Any, Any, str]],
        whole: list[tuple[Any, Any, str]],
        names: list[tuple[dict[str, Any], str]],
    ) -> None:
        stack = [node]
        while stack:
            current = stack.pop()
            if isinstance(current, dict):
                names.extend((current, name) for name in current)
            items = current.items() if isinstance(current, dict) else enumerate(current)
            for slot, child in items:
                if isinstance(child, str):
                    secret_key = (
                        self._secret_names
                        and isinstance(slot, str)
                        and SECRET_KEY_NAME.fullmatch(slot) is not None
                    )
                    (whole if secret_key else leaves).append((current, slot, child))
                elif isinstance(child, (dict, list)):
                    stack.append(child)


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
