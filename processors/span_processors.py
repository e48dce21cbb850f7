"""SDK span processors that redact or truncate a finished span and pass it on.

The SDK freezes a span before `on_end`, so a processor that changes it builds a new
`ReadableSpan` and hands that to the next processor. Everything but the changed
values is kept: context, parent, kind, resource, scope, times, status code, events,
links and the dropped attribute/event/link counts (held by the SDK's bounded
containers, so the copies are bounded containers with the same counts). A span with
nothing to change is passed on as it is: no copy.

One span is one engine call: its name, status description and the attributes of the
span, its events and its links go to the Redactor/Truncator as one batch, so RE2 scans
one buffer per span.

Never raise into the app. If the redaction adapter itself fails (a bug, not a
detector: detectors fail closed per value inside the Redactor), the span is dropped,
because exporting it could leak; a failed truncation passes the span on unchanged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import Link, Status
from opentelemetry.util.types import AttributeValue
from spanguard.processors.changes import (
    ACTION_LABELS,
    BLOCKED,
    DROPPED,
    DROPPED_ACTION,
    FAILED,
    MASKED,
    TRUNCATED,
    Change,
)
from spanguard.processors.redaction import Redactor, finding_counts, summary_attributes
from spanguard.processors.truncation import Truncator
from spanguard.processors.values import bounded_attributes

_log = logging.getLogger(__name__)

Transform = Callable[[Sequence[str | None], Sequence[Any]], list[Change | None]]


@dataclass
class ProcessorStats:
    """Counters a processor keeps: spans seen, values redacted/truncated/dropped, failures."""

    spans: int = 0
    redacted: int = 0
    truncated: int = 0
    dropped: int = 0
    failed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(
        self, *, spans: int = 0, redacted: int = 0, truncated: int = 0, dropped: int = 0, failed: int = 0
    ) -> None:
        with self._lock:
            self.spans += spans
            self.redacted += redacted
            self.truncated += truncated
            self.dropped += dropped
            self.failed += failed

    def count_span(self) -> None:
        with self._lock:
            self.spans += 1

    def as_dict(self) -> dict[str, int]:
        return {
            "spans": self.spans,
            "redacted": self.redacted,
            "truncated": self.truncated,
            "dropped": self.dropped,
            "failed": self.failed,
        }


_last_slots = threading.local()
# A span the redactor changed, handed to the truncator on the same thread, with its values
# before redaction by label, so truncation markers state the original length.
_originals = threading.local()


def _span_slots(span: ReadableSpan) -> tuple[list[str | None], list[Any], list[str]]:
    """Keys, values and summary labels of everything in a span the engine may change.

    Order: span attributes, name, status description, then per event and per link
    their attributes. `_rebuild` walks the same order. A span the redactor passed on
    unchanged reaches the truncator as the same object on the same thread: its slots
    are remembered (per thread, one span) instead of being collected twice.
    """
    last = getattr(_last_slots, "entry", None)
    if last is not None and last[0] is span:
        return last[1]
    slots = _collect_slots(span)
    _last_slots.entry = (span, slots)
    return slots


def _collect_slots(span: ReadableSpan) -> tuple[list[str | None], list[Any], list[str]]:
    keys: list[str | None] = []
    values: list[Any] = []
    labels: list[str] = []
    attributes = _attribute_dict(span)
    keys.extend(attributes)
    values.extend(attributes.values())
    labels.extend(attributes)
    keys.append(None)
    values.append(span.name)
    labels.append("span.name")
    description = span.status.description
    if description:
        keys.append(None)
        values.append(description)
        labels.append("status.description")
    # the private containers: the public properties copy them into tuples under a lock
    for index, event in enumerate(getattr(span, "_events", None) or span.events):
        for key, value in (event.attributes or {}).items():
            keys.append(key)
            values.append(value)
            labels.append(f"events.{index}.{key}")
    for index, link in enumerate(getattr(span, "_links", None) or span.links):
        for key, value in (link.attributes or {}).items():
            keys.append(key)
            values.append(value)
            labels.append(f"links.{index}.{key}")
    return keys, values, labels


def _attribute_dict(span: ReadableSpan) -> Mapping[str, Any]:
    """The span's attributes as a plain mapping, without the SDK's per-item Python calls."""
    raw = getattr(span, "_attributes", None)
    if isinstance(raw, BoundedAttributes):
        return raw._dict
    if isinstance(raw, dict):
        return raw
    return span.attributes or {}


def _apply(attributes: Any, changes: list[Change | None], offset: int) -> tuple[dict[str, Any], int]:
    """New attribute dict for one container, and the offset past its slots."""
    new: dict[str, Any] = {}
    for key, value in (attributes or {}).items():
        change = changes[offset]
        offset += 1
        if change is None:
            new[key] = value
        elif change.value is not DROPPED:
            new[key] = change.value
    return new, offset


def _rebuild(
    span: ReadableSpan, changes: list[Change | None], summary: dict[str, AttributeValue]
) -> ReadableSpan:
    attributes, offset = _apply(_attribute_dict(span), changes, 0)
    attributes.update(summary)
    name = span.name
    if changes[offset] is not None and changes[offset].value is not DROPPED:  # type: ignore[union-attr]
        name = str(changes[offset].value)  # type: ignore[union-attr]
    offset += 1
    status = span.status
    if status.description:
        change = changes[offset]
        offset += 1
        if change is not None:
            status = Status(status.status_code, None if change.value is DROPPED else str(change.value))
    events: Any = getattr(span, "_events", span.events)
    if any(changes[offset : offset + sum(len(e.attributes or {}) for e in span.events)]):
        rebuilt_events = []
        for event in span.events:
            event_attributes, offset = _apply(event.attributes, changes, offset)
            rebuilt_events.append(
                Event(
                    event.name,
                    bounded_attributes(event_attributes, event.dropped_attributes),
                    event.timestamp,
                )
            )
        events = _bounded_list(rebuilt_events, span.dropped_events)
    else:
        offset += sum(len(e.attributes or {}) for e in span.events)
    links: Any = getattr(span, "_links", span.links)
    if any(changes[offset:]):
        rebuilt_links = []
        for link in span.links:
            link_attributes, offset = _apply(link.attributes, changes, offset)
            rebuilt_links.append(
                Link(link.context, bounded_attributes(link_attributes, link.dropped_attributes))
            )
        links = _bounded_list(rebuilt_links, span.dropped_links)
    return ReadableSpan(
        name=name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=bounded_attributes(attributes, span.dropped_attributes),
        events=events,
        links=links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _bounded_list(items: list[Any], dropped: int) -> BoundedList:
    bounded: BoundedList = BoundedList(None)
    bounded.extend(items)
    bounded.dropped = dropped
    return bounded


class _TransformingSpanProcessor(SpanProcessor):
    """Shared plumbing: batch the span's values through one engine call, rebuild if changed."""

    _summary_prefix = "spanguard.redacted"
    _fail_open = False  # on an adapter bug: True passes the span on, False drops it
    _wants_originals = False  # the truncator: markers state the length before redaction

    def __init__(self, next_processor: SpanProcessor, transform: Transform, summary_level: str) -> None:
        self.next_processor = next_processor
        self._transform = transform
        self._summary_level = summary_level
        self.stats = ProcessorStats()

    def on_start(self, span: SdkSpan, parent_context: Context | None = None) -> None:
        self.next_processor.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        try:
            processed = self.process(span)
        except Exception:
            self.stats.add(spans=1, failed=1, dropped=0 if self._fail_open else 1)
            _log.exception(
                "spanguard: %s failed on a span; it was %s",
                type(self).__name__,
                "passed on unchanged" if self._fail_open else "dropped (fail closed)",
            )
            if not self._fail_open:
                return
            processed = span
        self.next_processor.on_end(processed)

    def process(self, span: ReadableSpan) -> ReadableSpan:
        """The span to pass on: `span` itself when nothing changed."""
        keys, values, labels = _span_slots(span)
        if self._wants_originals:
            entry = getattr(_originals, "entry", None)
            before = entry[1] if entry is not None and entry[0] is span else None
            changes = (
                self._transform(keys, values)
                if before is None
                else self._transform(keys, values, [before.get(label) for label in labels])  # type: ignore[call-arg]
            )
        else:
            changes = self._transform(keys, values)
        if not any(changes):  # the common case: nothing to do, no copy
            self.stats.count_span()
            return span
        counts = {MASKED: 0, BLOCKED: 0, DROPPED_ACTION: 0, FAILED: 0, TRUNCATED: 0}
        changed_keys: dict[str, list[str]] = {}
        for label, change in zip(labels, changes, strict=True):
            if change is not None:
                counts[change.action] += 1
                changed_keys.setdefault(ACTION_LABELS[change.action], []).append(label)
        total = sum(counts.values())
        if total == 0:
            self.stats.add(spans=1)
            return span
        self.stats.add(
            spans=1,
            redacted=counts[MASKED] + counts[BLOCKED],
            truncated=counts[TRUNCATED],
            dropped=counts[DROPPED_ACTION],
            failed=counts[FAILED],
        )
        findings = None if self._wants_originals else finding_counts(changes)
        summary = summary_attributes(self._summary_level, changed_keys, total, self._summary_prefix, findings)
        rebuilt = _rebuild(span, changes, summary)
        if not self._wants_originals:
            _originals.entry = (rebuilt, dict(zip(labels, values, strict=True)))
        return rebuilt

    def shutdown(self) -> None:
        self.next_processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.next_processor.force_flush(timeout_millis)


class RedactingSpanProcessor(_TransformingSpanProcessor):
    """Masks sensitive text in every finished span, then hands it to `next_processor`."""

    def __init__(self, next_processor: SpanProcessor, redactor: Redactor) -> None:
        super().__init__(next_processor, redactor.redact, redactor.config.summary)
        self.redactor = redactor


class TruncatingSpanProcessor(_TransformingSpanProcessor):
    """Cuts oversized values of every finished span, then hands it to `next_processor`."""

    _summary_prefix = "spanguard.truncated"
    _fail_open = True  # size control is not a privacy guarantee: never lose a span over it
    _wants_originals = True

    def __init__(self, next_processor: SpanProcessor, truncator: Truncator) -> None:
        super().__init__(next_processor, truncator.truncate, truncator.config.summary)
        self.truncator = truncator
