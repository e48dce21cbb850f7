"""The SDK span processor: redact and truncate a finished span, then pass it on.

`SpanguardSpanProcessor(next_processor, engine)` runs the one engine step
(`processors/engine.py`) over a span and hands the result to `next_processor` (the
fan-out, in `build_span_processor`). The SDK freezes a span before `on_end`, so a span
that changes is rebuilt as a new `ReadableSpan`. Everything but the changed values is
kept: context, parent, kind, resource, scope, times, status code, events, links and the
dropped attribute/event/link counts (held by the SDK's bounded containers, so the copies
are bounded containers with the same counts). A span with nothing to change is passed
on as it is: no copy.

The span's resource and instrumentation scope attributes go through the same engine
first (`processors/resource_scan.py`, cached per resource/scope), as the sidecar does.
One span is one engine call: its name, status description and the attributes of the
span, its events and its links go to the engine as one batch, so RE2 scans one buffer
per span.

Never raise into the app. If the processor itself fails (a bug, not a detector:
detectors fail closed per value inside the Redactor), the span is dropped, because
exporting it could leak; with truncation alone (nothing to leak), it is passed on
unchanged, and a failed truncation after a good redaction passes the redacted span on.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import Link, Status
from opentelemetry.util.types import AttributeValue

from spanguard.exporters.span_copy import copy_span
from spanguard.processors.changes import DROPPED, Change
from spanguard.processors.engine import AnyEngine, Counts, Engine, merge_summary
from spanguard.processors.redaction import Redactor
from spanguard.processors.resource_scan import AttributeOwnerScanner
from spanguard.processors.truncation import Truncator
from spanguard.processors.values import bounded_attributes

_log = logging.getLogger(__name__)
_NOTHING = object()  # no resource/scope seen yet


@dataclass(slots=True)
class SpanguardStats(Counts):
    """A processor's counts (spans its engine saw, values redacted/truncated/dropped,
    failures; resource and scope values once per distinct resource/scope; a
    `NoopEngine` counts nothing) and, by name, the `ExporterStats` of each
    exporter of the fan-out it feeds."""

    exporters: Mapping[str, Any] = field(default_factory=dict)


def _span_slots(
    span: ReadableSpan, with_labels: bool
) -> tuple[list[str | None], list[Any], list[str] | None]:
    """Keys, values and (for debug summaries only) labels of everything in a span the
    engine may change. Order: span attributes, name, status description, then per event
    and per link their attributes. `_rebuild` walks the same order."""
    keys: list[str | None] = []
    values: list[Any] = []
    attributes = _attribute_dict(span)
    keys.extend(attributes)
    values.extend(attributes.values())
    keys.append(None)
    values.append(span.name)
    description = span.status.description
    if description:
        keys.append(None)
        values.append(description)
    # the private containers: the public properties copy them into tuples under a lock
    events = _sequence(getattr(span, "_events", None), span, "events")
    links = _sequence(getattr(span, "_links", None), span, "links")
    for event in events:
        if event.attributes:
            keys.extend(event.attributes)
            values.extend(event.attributes.values())
    for link in links:
        if link.attributes:
            keys.extend(link.attributes)
            values.extend(link.attributes.values())
    if not with_labels:
        return keys, values, None
    labels: list[str] = [str(key) for key in attributes]
    labels.append("span.name")
    if description:
        labels.append("status.description")
    for index, event in enumerate(events):
        labels.extend(f"events.{index}.{key}" for key in event.attributes or {})
    for index, link in enumerate(links):
        labels.extend(f"links.{index}.{key}" for key in link.attributes or {})
    return keys, values, labels


def _sequence(raw: Any, span: ReadableSpan, name: str) -> Sequence[Any]:
    """A span's events or links without the SDK's locked copy: a finished span's
    BoundedList no longer changes, so its deque is read as it is."""
    if isinstance(raw, BoundedList):
        return raw._dq  # type: ignore[attr-defined]
    if isinstance(raw, (tuple, list)):
        return raw
    return getattr(span, name) or ()


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
    if summary:  # added to any a previous spanguard hop left: one key each
        earlier = {key: attributes[key] for key in summary if key in attributes}
        attributes.update(merge_summary(earlier, summary))
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


class SpanguardSpanProcessor(SpanProcessor):
    """Redacts and truncates every finished span with `engine`, then hands it to
    `next_processor`. `stats`: what it did, and the exporters' stats when
    `next_processor` is the fan-out."""

    def __init__(self, next_processor: SpanProcessor, engine: AnyEngine) -> None:
        self.next_processor = next_processor
        self.engine = engine
        # with nothing to leak (no redaction), an adapter bug passes the span on
        self._fail_open = engine.redactor is None
        self._counts = Counts()
        self._lock = threading.Lock()
        self._owners = AttributeOwnerScanner(engine)
        self._last_owners: tuple[object, object, Any, Any] = (_NOTHING, _NOTHING, None, None)

    @property
    def stats(self) -> SpanguardStats:
        """A snapshot of the counts and of each exporter's stats."""
        exporters = getattr(self.next_processor, "stats", None)
        stats = SpanguardStats(exporters=dict(exporters) if isinstance(exporters, Mapping) else {})
        with self._lock:
            stats.add(self._counts)
        stats.add(self._owners.snapshot())
        return stats

    def on_start(self, span: SdkSpan, parent_context: Context | None = None) -> None:
        self.next_processor.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if not self.engine.enabled:
            self.next_processor.on_end(span)
            return
        try:
            processed = self.process(span)
        except Exception as exc:
            with self._lock:
                self._counts.add(Counts(spans=1, failed=1, dropped=0 if self._fail_open else 1))
                failed = self._counts.failed
            # the type and the counter only: the message or traceback of an exception
            # raised with span content in hand may quote that content
            _log.error(
                "spanguard: %s failed on a span (%s, %d failures so far); it was %s",
                type(self).__name__,
                type(exc).__name__,
                failed,
                "passed on unchanged" if self._fail_open else "dropped (fail closed)",
            )
            if not self._fail_open:
                return
            processed = span
        self.next_processor.on_end(processed)

    def process(self, span: ReadableSpan) -> ReadableSpan:
        """The span to pass on: `span` itself when nothing changed. Counts it."""
        engine = self.engine
        span = self._with_clean_owners(span)
        keys, values, labels = _span_slots(span, engine.debug)
        staged = engine.run(keys, values)
        counts = staged.counts
        counts.spans = 1
        with self._lock:
            self._counts.add(counts)
        changes = staged.changes
        if not any(changes):  # the common case: nothing to do, no copy
            return span
        changed = [index for index, change in enumerate(changes) if change is not None]
        return _rebuild(span, changes, engine.summary(staged, labels, changed))

    def _with_clean_owners(self, span: ReadableSpan) -> ReadableSpan:
        """`span` with its resource and scope attributes cleaned (itself when clean).

        Nearly every span of a process shares one resource and one scope: the last pair
        seen and its verdict are kept as one tuple (read and replaced atomically), so
        such a span costs two identity checks rather than two locked cache lookups."""
        source_resource, source_scope = span.resource, span.instrumentation_scope
        last = self._last_owners
        if last[0] is source_resource and last[1] is source_scope:
            resource, scope = last[2], last[3]
        else:
            resource = self._owners.resource(source_resource)
            scope = self._owners.scope(source_scope)
            self._last_owners = (source_resource, source_scope, resource, scope)
        if resource is source_resource and scope is source_scope:
            return span
        return copy_span(span, resource=resource, instrumentation_scope=scope)

    def shutdown(self) -> None:
        self.next_processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.next_processor.force_flush(timeout_millis)


class RedactingSpanProcessor(SpanguardSpanProcessor):
    """Deprecated: `SpanguardSpanProcessor(next_processor, Engine(redactor, truncator))`
    does redaction and truncation in one processor. Kept for one release."""

    def __init__(self, next_processor: SpanProcessor, redactor: Redactor) -> None:
        warnings.warn(
            "RedactingSpanProcessor is deprecated; use SpanguardSpanProcessor with an Engine",
            DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(next_processor, Engine(redactor, None))
        self.redactor = redactor


class TruncatingSpanProcessor(SpanguardSpanProcessor):
    """Deprecated: `SpanguardSpanProcessor(next_processor, Engine(redactor, truncator))`
    does redaction and truncation in one processor. Kept for one release."""

    def __init__(self, next_processor: SpanProcessor, truncator: Truncator) -> None:
        warnings.warn(
            "TruncatingSpanProcessor is deprecated; use SpanguardSpanProcessor with an Engine",
            DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(next_processor, Engine(None, truncator, truncation_fails_open=True))
        self.truncator = truncator


def __getattr__(name: str) -> Any:
    if name == "ProcessorStats":  # the one counter type is `engine.Counts` now
        warnings.warn("ProcessorStats is deprecated; use spanguard.Counts", DeprecationWarning, stacklevel=2)
        return Counts
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
