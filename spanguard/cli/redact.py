"""`spanguard redact`: show what a value becomes when exported, before deploying rules.

It runs the same engine as the span processors and the sidecar (redaction, then
truncation, with the key rules of the attribute named by `--key`), so the preview is
what Phoenix would receive. Plain mode reads one value from stdin; `--jsonl` reads many
`{"key": ..., "value": ...}` lines and processes them as one batch, in order.

Bad input loses nothing: every line is checked before any output is written, and an
error names the line number, never its content (which is exactly the data being
tested for secrets).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from spanguard.config import CONFIG_ENV_VAR, DEFAULT_CONFIG_FILE, load_config
from spanguard.errors import SpanguardError
from spanguard.processors.changes import DROPPED
from spanguard.processors.redaction import Redactor
from spanguard.processors.truncation import Truncator

DEFAULT_KEY = "input.value"
_SCALARS = (str, int, float, bool)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help=f"config file (default: ${CONFIG_ENV_VAR}, then ./{DEFAULT_CONFIG_FILE}, else defaults)",
    )
    parser.add_argument(
        "--key",
        default=DEFAULT_KEY,
        help=f"attribute key whose rules apply in plain mode (default: {DEFAULT_KEY})",
    )
    parser.add_argument(
        "--jsonl",
        action="store_true",
        help='read lines {"key": ..., "value": ...} and write one such line per input; '
        "value is null when the attribute would be dropped",
    )


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    preview = ExportPreview(Redactor(config.redaction), Truncator(config.truncation))
    data = sys.stdin.buffer.read()
    if args.jsonl:
        keys, values = parse_jsonl(data)
        results = preview.apply(keys, values)
        _write(b"".join(_json_line(key, value) for key, value in zip(keys, results, strict=True)))
        return 0
    value: str | bytes
    try:
        value = data.decode("utf-8")
    except UnicodeDecodeError:
        value = data  # not text: the engine handles bytes as exporters would see them
    result = preview.apply([args.key], [value])[0]
    if result is DROPPED:
        print(f"spanguard: attribute {args.key!r} would be dropped", file=sys.stderr)
        return 0
    _write(result if isinstance(result, bytes) else str(result).encode("utf-8", "surrogateescape"))
    return 0


class ExportPreview:
    """Redaction then truncation over plain values, as the span processors chain them."""

    def __init__(self, redactor: Redactor, truncator: Truncator) -> None:
        self.redactor = redactor
        self.truncator = truncator

    def apply(self, keys: Sequence[str], values: Sequence[Any]) -> list[Any]:
        """The exported value per input, or `DROPPED`; one engine call per stage."""
        present = [index for index, value in enumerate(values) if value is not None]
        results: list[Any] = list(values)
        redacted = self.redactor.redact([keys[i] for i in present], [values[i] for i in present])
        for index, change in zip(present, redacted, strict=True):
            if change is not None:
                results[index] = change.value
        kept = [index for index in present if results[index] is not DROPPED]
        truncated = self.truncator.truncate(
            [keys[i] for i in kept], [results[i] for i in kept], [values[i] for i in kept]
        )
        for index, change in zip(kept, truncated, strict=True):
            if change is not None:
                results[index] = change.value
        return results


def parse_jsonl(data: bytes) -> tuple[list[str], list[Any]]:
    """All lines checked before anything is written; blank lines are skipped."""
    keys: list[str] = []
    values: list[Any] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SpanguardError(f"stdin line {number}: not valid UTF-8") from None
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpanguardError(
                f"stdin line {number}: not valid JSON ({exc.msg} at column {exc.colno})"
            ) from None
        if not isinstance(record, dict) or set(record) != {"key", "value"}:
            raise SpanguardError(f'stdin line {number}: expected an object with exactly "key" and "value"')
        key, value = record["key"], record["value"]
        if not isinstance(key, str) or not key:
            raise SpanguardError(f'stdin line {number}: "key" must be a non-empty string')
        if not _is_attribute_value(value):
            raise SpanguardError(
                f'stdin line {number}: "value" must be a string, number, boolean, null, '
                "or an array or object of those"
            )
        keys.append(key)
        values.append(value)
    return keys, values


def _is_attribute_value(value: Any, depth: int = 0) -> bool:
    if value is None or isinstance(value, _SCALARS):
        return True
    if depth >= 8:
        return False
    if isinstance(value, list):
        return all(_is_attribute_value(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(_is_attribute_value(item, depth + 1) for item in value.values())
    return False


def _json_line(key: str, value: Any) -> bytes:
    record = {"key": key, "value": _jsonable(value)}
    try:
        return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        # a lone surrogate (JSON can spell one) has no UTF-8 form; \u escapes keep it
        return (json.dumps(record) + "\n").encode("ascii")


def _jsonable(value: Any) -> Any:
    if value is DROPPED:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items() if item is not DROPPED}
    return value


def _write(data: bytes) -> None:
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        # `spanguard redact ... | head`: the reader left; that is not an error. Point
        # stdout at /dev/null so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
