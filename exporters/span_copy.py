"""Copy a finished SDK span with one part replaced, keeping everything else.

The SDK freezes a span before `on_end`, so exporters that must change something (the
Phoenix project resource, an oversize attribute) build a new `ReadableSpan`. The
private `_attributes`, `_events` and `_links` are passed through as they are so the
dropped-attribute/event/link counts (held by the SDK's bounded containers) survive.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope


def copy_span(
    span: ReadableSpan,
    *,
    resource: Resource | None = None,
    attributes: Mapping[str, Any] | None = None,
    instrumentation_scope: InstrumentationScope | None = None,
) -> ReadableSpan:
    """A new ReadableSpan equal to `span` except for the given `resource`/`attributes`/
    `instrumentation_scope`."""
    if attributes is None:
        new_attributes = getattr(span, "_attributes", span.attributes)
    else:
        bounded = BoundedAttributes(maxlen=None, attributes=attributes, immutable=True, max_value_len=None)
        bounded.dropped = span.dropped_attributes
        new_attributes = bounded
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=resource if resource is not None else span.resource,
        attributes=new_attributes,
        events=getattr(span, "_events", span.events),
        links=getattr(span, "_links", span.links),
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=instrumentation_scope
        if instrumentation_scope is not None
        else span.instrumentation_scope,
    )
