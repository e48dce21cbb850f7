"""Resource and scope attributes, redacted and truncated in-process as the sidecar does.

A span's resource (`service.name`, `host.name`, whatever `OTEL_RESOURCE_ATTRIBUTES`
or a detector put there) and its instrumentation scope's attributes travel with every
span; the span-level processors never look at them, so an e-mail in a resource
attribute would reach every exporter. The sidecar scans both in each OTLP request
(`otlp_adapter.transform_export_request`); this stage does the same for SDK spans.

Nearly every span of a process shares one resource and a few scopes, so the result is
cached by the identity of the source object (the cache holds the source, so an id is
never reused while cached): a span costs one dict lookup, and a span whose resource
and scope need nothing is passed on as the same object.

A failure here drops the span (fail closed, counted), like the redaction processor:
the resource could hold the secret. The log line names the exception type only, never
its message, which may quote an attribute value.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from spanguard.processors.changes import DROPPED, Change
from spanguard.processors.redaction import Redactor
from spanguard.processors.truncation import Truncator

_log = logging.getLogger(__name__)

CACHE_SIZE = 64


def _apply(attributes: Mapping[str, Any], changes: list[Change | None]) -> dict[str, Any]:
    new: dict[str, Any] = {}
    for (key, value), change in zip(attributes.items(), changes, strict=True):
        if change is None:
            new[key] = value
        elif change.value is not DROPPED:
            new[key] = change.value
    return new


class AttributeOwnerScanner:
    """Redacts then truncates the attributes of resources and scopes, one result per source."""

    def __init__(self, redactor: Redactor | None, truncator: Truncator | None) -> None:
        self.redactor = redactor
        self.truncator = truncator
        self.changed_values = 0
        self._cache: OrderedDict[int, tuple[object, object]] = OrderedDict()
        self._lock = threading.Lock()

    def attributes(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        """The cleaned attributes, or None when nothing needed changing."""
        if not attributes:
            return None
        current: Mapping[str, Any] = attributes
        changed = 0
        for engine in (self.redactor.redact if self.redactor else None,
                       self.truncator.truncate if self.truncator else None):
            if engine is None:
                continue
            changes = engine(list(current), list(current.values()))
            if any(changes):
                changed += sum(1 for change in changes if change is not None)
                current = _apply(current, changes)
        if not changed:
            return None
        self.changed_values += changed
        return dict(current)

    def _cached(self, source: object, build: Any) -> Any:
        key = id(source)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] is source:
                self._cache.move_to_end(key)
                return hit[1]
        result = build(source)
        with self._lock:
            self._cache[key] = (source, result)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return result

    def resource(self, resource: Resource) -> Resource:
        def build(source: Resource) -> Resource:
            cleaned = self.attributes(source.attributes)
            return source if cleaned is None else Resource(cleaned, source.schema_url)

        return self._cached(resource, build)

    def scope(self, scope: InstrumentationScope | None) -> InstrumentationScope | None:
        if scope is None or not scope.attributes:
            return scope

        def build(source: InstrumentationScope) -> InstrumentationScope:
            cleaned = self.attributes(source.attributes or {})
            if cleaned is None:
                return source
            return InstrumentationScope(source.name, source.version, source.schema_url, cleaned)

        return self._cached(scope, build)


def _with_owners(span: ReadableSpan, resource: Resource, scope: InstrumentationScope | None) -> ReadableSpan:
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=resource,
        attributes=getattr(span, "_attributes", span.attributes),
        events=getattr(span, "_events", span.events),
        links=getattr(span, "_links", span.links),
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=scope,
    )


class ResourceScanningSpanProcessor(SpanProcessor):
    """Cleans each finished span's resource and scope attributes, then hands it on."""

    def __init__(
        self, next_processor: SpanProcessor, redactor: Redactor | None, truncator: Truncator | None
    ) -> None:
        self.next_processor = next_processor
        self.scanner = AttributeOwnerScanner(redactor, truncator)
        self.failed = 0

    def on_start(self, span: SdkSpan, parent_context: Context | None = None) -> None:
        self.next_processor.on_start(span, parent_context=parent_context)

    def process(self, span: ReadableSpan) -> ReadableSpan:
        resource = self.scanner.resource(span.resource)
        scope = self.scanner.scope(span.instrumentation_scope)
        if resource is span.resource and scope is span.instrumentation_scope:
            return span
        return _with_owners(span, resource, scope)

    def on_end(self, span: ReadableSpan) -> None:
        try:
            processed = self.process(span)
        except Exception as exc:  # fail closed: the resource may hold the secret
            self.failed += 1
            _log.error(
                "spanguard: resource/scope redaction failed (%s); span dropped, %d so far",
                type(exc).__name__, self.failed,
            )
            return
        self.next_processor.on_end(processed)

    @property
    def stats(self) -> dict[str, int]:
        return {"resource_values": self.scanner.changed_values, "failed": self.failed}

    def shutdown(self) -> None:
        self.next_processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.next_processor.force_flush(timeout_millis)
