"""The summary attributes a changed span carries (`spanguard.redacted.count`, ...).

In the spirit of the Collector's redactionprocessor `summary` levels: `info` = a count,
`debug` = also the keys by action, `silent` = nothing. Keys only, never values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def summary_attributes(
    level: str, changed_keys: Mapping[str, Sequence[str]], count: int, prefix: str = "spanguard.redacted"
) -> dict[str, Any]:
    """Summary attributes for one changed span. `changed_keys` maps an action label
    (redacted/blocked/dropped/failed) to keys; never values."""
    if level == "silent" or count == 0:
        return {}
    attributes: dict[str, Any] = {f"{prefix}.count": count}
    if level == "debug":
        for label, keys in changed_keys.items():
            if keys:
                attributes[f"spanguard.{label}.keys"] = tuple(sorted(set(keys)))
    return attributes
