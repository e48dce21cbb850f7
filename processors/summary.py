"""The summary attributes a changed span carries (`spanguard.redacted.count`, ...).

In the spirit of the Collector's redactionprocessor `summary` levels: `info` = the count
and, for redaction, the count per detector (`spanguard.redacted.email: 2`); `debug` =
also the keys by action; `silent` = nothing. Keys only, never values.

Redaction counts findings, not values: one prompt holding three e-mails and a phone
number is 4 (`email: 3`, `phone: 1`). A value dropped by a rule counts as one `dropped`,
a value that failed closed as one `error`, a value blocked whole as one `blocked`.

Keys are flat OTLP attribute keys. Phoenix stores dotted keys nested, so its span filter
reads them as `attributes["spanguard"]["redacted"]["count"] > 0` (docs/redaction.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from spanguard.processors.changes import DROPPED_ACTION, FAILED, Change

# summary key suffixes a detector name must not take (config rejects them as names)
RESERVED_NAMES = frozenset({"count", "keys"})
# what a change without a detector name counts as
_UNNAMED = {DROPPED_ACTION: ("dropped",), FAILED: ("error",)}


def finding_counts(changes: Iterable[Change | None], into: dict[str, int] | None = None) -> dict[str, int]:
    """Findings per detector name over redaction changes, added to `into` if given."""
    counts: dict[str, int] = {} if into is None else into
    for change in changes:
        if change is None:
            continue
        names: Sequence[str] = change.detectors
        if not names:
            names = _UNNAMED.get(change.action, ())
        for name in names:
            counts[name] = counts.get(name, 0) + 1
    return counts


def summary_attributes(
    level: str,
    changed_keys: Mapping[str, Sequence[str]],
    count: int,
    prefix: str = "spanguard.redacted",
    findings: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Summary attributes for one changed span. `changed_keys` maps an action label
    (redacted/blocked/dropped/failed) to keys; `findings` (redaction) maps detector names
    to counts, and then the total is their sum rather than `count`."""
    if level == "silent" or count == 0:
        return {}
    total = sum(findings.values()) if findings else count
    attributes: dict[str, Any] = {f"{prefix}.count": total}
    if findings:
        for name in sorted(findings):
            if name not in RESERVED_NAMES:
                attributes[f"{prefix}.{name}"] = findings[name]
    if level == "debug":
        for label, keys in changed_keys.items():
            if keys:
                attributes[f"spanguard.{label}.keys"] = tuple(sorted(set(keys)))
    return attributes
