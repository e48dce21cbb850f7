"""Keep one huge span from poisoning a whole batch at the backend's message limit.

A gRPC server refuses messages over its limit (4 MiB by default) and an HTTP backend
answers 413; either way the *whole* request is lost. So before export, each span's
size is estimated cheaply (string lengths, not a protobuf encode); a span over the
limit has its long string attributes cut further, and if it is still too big (say, ten
thousand events) it is dropped and counted. Batches are then split so no request
exceeds the limit (`splitting.split_by_size`).
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from spanguard.exporters.span_copy import copy_span

# Fixed overhead per span and per attribute in the OTLP encoding (ids, times, tags).
_SPAN_OVERHEAD = 96
_ATTRIBUTE_OVERHEAD = 8
# An oversize span's strings are cut to at least this many characters.
_MIN_CUT = 256


def _value_bytes(value: Any) -> int:
    if isinstance(value, str):
        # Non-ASCII text takes up to 4 bytes a character in UTF-8; overestimate rather
        # than encode every value.
        return len(value) if value.isascii() else 4 * len(value)
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, (list, tuple)):
        return sum(_value_bytes(item) + 2 for item in value)
    return 9


def _attributes_bytes(attributes: Any) -> int:
    if not attributes:
        return 0
    return sum(len(key) + _ATTRIBUTE_OVERHEAD + _value_bytes(value) for key, value in attributes.items())


def estimate_span_bytes(span: ReadableSpan) -> int:
    """An upper-leaning estimate of the span's OTLP protobuf size (without resource)."""
    size = _SPAN_OVERHEAD + len(span.name) + _attributes_bytes(span.attributes)
    for event in span.events:
        size += _SPAN_OVERHEAD // 2 + len(event.name) + _attributes_bytes(event.attributes)
    for link in span.links:
        size += _SPAN_OVERHEAD // 2 + _attributes_bytes(link.attributes)
    if span.status.description:
        size += len(span.status.description)
    return size


def _cut(value: Any, limit: int) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + f"…[truncated {len(value) - limit} chars]"
    if isinstance(value, (list, tuple)):
        return tuple(_cut(item, limit) for item in value)
    return value


def fit_span(span: ReadableSpan, limit: int) -> tuple[ReadableSpan | None, bool]:
    """(`span` fitted under `limit` bytes or None if it cannot be, whether it was cut)."""
    size = estimate_span_bytes(span)
    if size <= limit:
        return span, False
    attributes = dict(span.attributes or {})
    if attributes:
        # Share the budget between attributes; cut the long strings down to it.
        budget = max(_MIN_CUT, (limit // 2) // (4 * max(1, len(attributes))))
        attributes = {key: _cut(value, budget) for key, value in attributes.items()}
        span = copy_span(span, attributes=attributes)
        if estimate_span_bytes(span) <= limit:
            return span, True
    return None, False
