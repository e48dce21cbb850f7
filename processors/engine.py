"""The one redact -> truncate step every front door runs, and the one `Counts` it reports.

`Engine(redactor, truncator).apply(keys, values)` takes a batch of plain values (one
span, one whole OTLP request, the lines of `spanguard redact`) and returns one merged
`Change` (or None: untouched) per value, with the counts. Redaction runs first, so a
secret that straddles a truncation cut is caught whole; values redaction drops are
hidden from truncation; a value both stages change ends as one `Change` holding the
final value and the redaction's action and detectors.

The SDK processor, the OTLP adapter (the sidecar's), `spanguard redact` and the
sidecar's metrics all use this step and this counter type, so one YAML file means the
same thing everywhere. `NoopEngine` is the engine for "nothing to do" (both stages
off in the config file; `SPANGUARD_ENABLED=false` exports nothing instead): callers
test `engine.enabled` once and skip the work, rather than checking for None at every
step.

Truncation gets the values as they were before redaction too, so its markers state
the original length. Summary attributes (`spanguard.redacted.count`, the findings per
detector `spanguard.redacted.<detector>`, `spanguard.<action>.keys`) come from
`Engine.summary`, and `merge_summary` adds them to any a span already carries (a span
changed at two spanguard hops): counts added, key lists joined, one key each, as the
Collector's redaction processor does.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from spanguard.config.model import RedactionConfig, TruncationConfig
from spanguard.processors.changes import (
    ACTION_LABELS,
    BLOCKED,
    DROPPED,
    DROPPED_ACTION,
    MASKED,
    TRUNCATED,
    Change,
)
from spanguard.processors.redaction import Redactor, finding_counts, summary_attributes
from spanguard.processors.truncation import Truncator

_log = logging.getLogger(__name__)

REDACTED_PREFIX = "spanguard.redacted"
TRUNCATED_PREFIX = "spanguard.truncated"
SUMMARY_PREFIX = "spanguard."


@dataclass(slots=True)
class Counts:
    """Spans seen and values changed, by what happened to them.

    Values are counted per stage: a value redacted then truncated counts once in each.
    `redacted` holds masked and blocked values; `dropped` attributes removed by a key
    rule; `failed` values replaced because a rule raised (fail closed)."""

    spans: int = 0
    redacted: int = 0
    truncated: int = 0
    dropped: int = 0
    failed: int = 0

    @property
    def changed(self) -> bool:
        """Did any value change?"""
        return bool(self.redacted or self.truncated or self.dropped or self.failed)

    def add(self, other: Counts) -> None:
        """Add `other`'s counts into these (not thread-safe: callers that share one lock it)."""
        self.spans += other.spans
        self.redacted += other.redacted
        self.truncated += other.truncated
        self.dropped += other.dropped
        self.failed += other.failed

    def count(self, action: str) -> None:
        """Count one value changed by `action` (a `Change.action`)."""
        if action in (MASKED, BLOCKED):
            self.redacted += 1
        elif action == TRUNCATED:
            self.truncated += 1
        elif action == DROPPED_ACTION:
            self.dropped += 1
        else:
            self.failed += 1


class Staged(NamedTuple):
    """What `Engine.run` did: the merged changes and counts, and each stage's own
    changes (None: the stage is off), from which `Engine.summary` builds attributes."""

    changes: list[Change | None]
    counts: Counts
    redaction: list[Change | None] | None
    truncation: list[Change | None] | None


def _truncate(
    truncator: Truncator, keys: Sequence[str | None], values: list[Any], originals: Sequence[Any] | None
) -> list[Change | None]:
    """Truncation over the values still alive (DROPPED values are hidden from it), with
    `originals` (the values before redaction; None: redaction changed nothing) so its
    markers state the original length."""
    if originals is None:
        return list(truncator.truncate(keys, values))
    if not any(value is DROPPED for value in values):
        return list(truncator.truncate(keys, values, originals))
    kept = [index for index, value in enumerate(values) if value is not DROPPED]
    changes: list[Change | None] = [None] * len(values)
    cut = truncator.truncate([keys[i] for i in kept], [values[i] for i in kept], [originals[i] for i in kept])
    for index, change in zip(kept, cut, strict=True):
        changes[index] = change
    return changes


class Engine:
    """Redaction then truncation over plain values; either stage may be None (off).

    `truncation_fails_open`: if the truncator itself raises (a bug), keep the redacted
    values and count one failure instead of raising. The SDK processor wants that (size
    control is not a privacy guarantee: never lose a span over it); the sidecar refuses
    the request instead (the default). A redaction bug always raises: fail closed."""

    enabled = True

    def __init__(
        self,
        redactor: Redactor | None,
        truncator: Truncator | None,
        *,
        truncation_fails_open: bool = False,
    ) -> None:
        self.redactor = redactor
        self.truncator = truncator
        self.truncation_fails_open = truncation_fails_open
        levels = [s.config.summary for s in (redactor, truncator) if s is not None]
        self.debug = "debug" in levels  # summaries list keys: adapters collect labels

    @classmethod
    def from_config(
        cls, redaction: RedactionConfig, truncation: TruncationConfig, *, truncation_fails_open: bool = False
    ) -> Engine | NoopEngine:
        """The engine a config asks for: a `NoopEngine` when both stages are off. Builds
        the Redactor first, so a bad pattern raises `ConfigError` before anything else."""
        redactor = Redactor(redaction) if redaction.enabled else None
        truncator = Truncator(truncation) if truncation.enabled else None
        if redactor is None and truncator is None:
            return NoopEngine()
        return cls(redactor, truncator, truncation_fails_open=truncation_fails_open)

    def drops(self, key: str) -> bool:
        """Would either stage remove `key`? Lets adapters skip materialising its value."""
        return bool(
            (self.redactor is not None and self.redactor.drops(key))
            or (self.truncator is not None and self.truncator.drops(key))
        )

    def apply(self, keys: Sequence[str | None], values: Sequence[Any]) -> tuple[list[Change | None], Counts]:
        """One merged Change (or None) per value, and the counts (`spans` left at 0: the
        caller knows what a span is). A key of None skips key rules (names, messages)."""
        staged = self.run(keys, values)
        return staged.changes, staged.counts

    def run(
        self,
        keys: Sequence[str | None],
        values: Sequence[Any],
        *,
        scan_windows: Mapping[int, tuple[int, int]] | None = None,
    ) -> Staged:
        """`apply`, keeping each stage's changes for `summary`. `scan_windows`: see
        `Redactor.redact` (the sidecar's prefilter knows where candidates can start)."""
        originals = values if isinstance(values, list) else list(values)
        current = originals
        final: list[Change | None] = [None] * len(current)
        counts = Counts()
        redaction = truncation = None
        redacted = False
        if self.redactor is not None:
            redaction = self.redactor.redact(keys, current, scan_windows)
            if any(redaction):
                redacted = True
                current = list(current)
                self._merge(redaction, current, final, counts)
        if self.truncator is not None:
            try:
                truncation = _truncate(self.truncator, keys, current, originals if redacted else None)
            except Exception as exc:
                if not self.truncation_fails_open:
                    raise
                # the type only: the message or traceback may quote a value
                _log.error(
                    "spanguard: truncation failed on a batch (%s); its values were passed on uncut",
                    type(exc).__name__,
                )
                counts.failed += 1
                truncation = None
            else:
                if any(truncation):
                    self._merge(truncation, current, final, counts)
        return Staged(final, counts, redaction, truncation)

    @staticmethod
    def _merge(
        changes: list[Change | None], current: list[Any], final: list[Change | None], counts: Counts
    ) -> None:
        for index, change in enumerate(changes):
            if change is None:
                continue
            current[index] = change.value
            previous = final[index]
            final[index] = (
                change
                if previous is None or change.value is DROPPED
                else Change(change.value, previous.action, previous.detectors)
            )
            counts.count(change.action)

    def summary(self, staged: Staged, labels: Sequence[str] | None, indexes: Iterable[int]) -> dict[str, Any]:
        """Summary attributes for the values at `indexes` (one span's), at each stage's
        `summary` level; `labels` name the values (needed only when `self.debug`)."""
        chosen = list(indexes)
        summary: dict[str, Any] = {}
        for changes, stage, prefix in (
            (staged.redaction, self.redactor, REDACTED_PREFIX),
            (staged.truncation, self.truncator, TRUNCATED_PREFIX),
        ):
            if changes is None or stage is None:
                continue
            changed_keys: dict[str, list[str]] = {}
            changed: list[Change] = []
            for index in chosen:
                change = changes[index]
                if change is not None:
                    changed.append(change)
                    label = labels[index] if labels is not None else ""
                    changed_keys.setdefault(ACTION_LABELS[change.action], []).append(label)
            if changed:
                # redaction counts findings per detector (`spanguard.redacted.email: 2`)
                found = finding_counts(changed) if prefix == REDACTED_PREFIX else None
                level = stage.config.summary
                attributes = summary_attributes(level, changed_keys, len(changed), prefix, found)
                summary = merge_summary(summary, attributes) if summary else attributes
        return summary


class NoopEngine:
    """The engine when there is nothing to do: every value untouched, nothing counted.

    Same surface as `Engine`, so adapters need no None checks; they test `enabled`
    once to skip collecting values at all (as logfire's `NoopScrubber`)."""

    enabled = False
    redactor: Redactor | None = None
    truncator: Truncator | None = None
    debug = False
    truncation_fails_open = False

    def drops(self, key: str) -> bool:
        return False

    def apply(self, keys: Sequence[str | None], values: Sequence[Any]) -> tuple[list[Change | None], Counts]:
        return [None] * len(values), Counts()

    def run(
        self,
        keys: Sequence[str | None],
        values: Sequence[Any],
        *,
        scan_windows: Mapping[int, tuple[int, int]] | None = None,
    ) -> Staged:
        return Staged([None] * len(values), Counts(), None, None)

    def summary(self, staged: Staged, labels: Sequence[str] | None, indexes: Iterable[int]) -> dict[str, Any]:
        return {}


AnyEngine = Engine | NoopEngine


def merge_summary(existing: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """`existing` summary attributes with `new` ones added: counts (`*.count`, ints) are
    added, key lists joined (sorted, each key once), so a span changed at two spanguard
    hops carries each summary key once, as the Collector's redaction processor does.
    A value of an unexpected type is replaced by the new one."""
    merged = dict(existing)
    for key, value in new.items():
        old = merged.get(key)
        if isinstance(value, int) and isinstance(old, int) and not isinstance(old, bool):
            merged[key] = old + value
        elif (
            isinstance(value, tuple)
            and isinstance(old, (tuple, list))
            and all(isinstance(item, str) for item in old)
        ):
            merged[key] = tuple(sorted(set(old) | set(value)))
        else:
            merged[key] = value
    return merged


def is_summary_key(key: str) -> bool:
    """Is `key` one of the summary attributes the engine writes (counts, key lists, and
    the per-detector finding counts `spanguard.redacted.<detector>`)?"""
    return key.startswith(SUMMARY_PREFIX) and (
        key.endswith(".count") or key.endswith(".keys") or key.startswith(REDACTED_PREFIX + ".")
    )
