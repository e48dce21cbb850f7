"""Resource and scope attributes, redacted and truncated in-process as the sidecar does.

A span's resource (`service.name`, `host.name`, whatever `OTEL_RESOURCE_ATTRIBUTES`
or a detector put there) and its instrumentation scope's attributes travel with every
span; the span-level processors never look at them, so an e-mail in a resource
attribute would reach every exporter. The sidecar scans both in each OTLP request
(`otlp_adapter.transform_export_request`); `SpanguardSpanProcessor` runs this scanner,
with the same engine, over each SDK span's resource and scope.

Nearly every span of a process shares one resource and a few scopes, so the result is
cached by the identity of the source object (the cache holds the source, so an id is
never reused while cached): a span costs one dict lookup, and a span whose resource
and scope need nothing is passed on as the same object.

A failure here is a failure of the processor: the span is dropped (fail closed,
counted, the log line naming the exception type only), since the resource could hold
the secret.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from spanguard.processors.changes import DROPPED, Change
from spanguard.processors.engine import AnyEngine, Counts

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
    """Runs the engine step over the attributes of resources and scopes, one result per
    source. `counts`: values changed, counted once per distinct resource or scope (a
    cached result is not counted again for every span that shares it)."""

    def __init__(self, engine: AnyEngine) -> None:
        self.engine = engine
        self.counts = Counts()
        self._cache: OrderedDict[int, tuple[object, object]] = OrderedDict()
        self._lock = threading.Lock()

    def snapshot(self) -> Counts:
        """A copy of the counts, taken under the lock."""
        copy = Counts()
        with self._lock:
            copy.add(self.counts)
        return copy

    def attributes(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        """The cleaned attributes, or None when nothing needed changing."""
        if not attributes or not self.engine.enabled:
            return None
        changes, counts = self.engine.apply(list(attributes), list(attributes.values()))
        if not any(changes):
            return None
        with self._lock:
            self.counts.add(counts)
        return _apply(attributes, changes)

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
