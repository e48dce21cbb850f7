"""SDK spans -> `ExportTraceServiceRequest` bytes, written straight to the wire format.

Why not the SDK's `encode_spans(...).SerializeToString()`: it builds a protobuf object
per span, attribute and value in Python and copies each `KeyValue` into its parent,
then hashes every span's `Resource` (a JSON dump of its attributes) to group them.
After compression it was the largest in-process export cost. Here each value is
written as bytes once, keys are encoded once per process (they repeat in every span),
the resource and scope are encoded once per batch, and spans are grouped by identity
first (equal resources/scopes that are distinct objects are then merged, as the SDK's
grouping by equality does).

The result means the same as the SDK's encoder: a property test parses both and
compares the messages. Matching it includes its choices: `flags` carries the
"has is_remote" bit (plus "is remote" for a remote parent), a link's trace state is not
sent, the status is always present, and an attribute whose value cannot be encoded
(an int outside int64, a string that is not valid Unicode, an unknown type) is left
out with a log line naming the key, never the value.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

_log = logging.getLogger("spanguard.exporters")

_SMALL = [bytes((n,)) for n in range(128)]
_pack_double = struct.Struct("<d").pack
_pack_fixed64 = struct.Struct("<Q").pack
_pack_fixed32 = struct.Struct("<I").pack
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1

# SpanFlags: SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK, | SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
_FLAGS_LOCAL = b"\x85\x01" + _pack_fixed32(0x100)  # field 16, fixed32
_FLAGS_REMOTE = b"\x85\x01" + _pack_fixed32(0x300)
_LINK_FLAGS_LOCAL = b"\x35" + _pack_fixed32(0x100)  # Link field 6, fixed32
_LINK_FLAGS_REMOTE = b"\x35" + _pack_fixed32(0x300)


class _Unencodable(Exception):
    """A value the OTLP AnyValue cannot carry; its attribute is left out."""


def _varint(value: int) -> bytes:
    if value < 128:
        return _SMALL[value]
    out = bytearray()
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    return tag + _varint(len(payload)) + payload


def _any_value(value: Any) -> bytes:
    """The AnyValue message body for `value` (oneof fields are written even when zero)."""
    if value is None:
        return b""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _Unencodable from exc
        return b"\x0a" + _varint(len(data)) + data
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise _Unencodable
        return b"\x18" + _varint(value & 0xFFFFFFFFFFFFFFFF)
    if isinstance(value, float):
        return b"\x21" + _pack_double(value)
    if isinstance(value, bytes):
        return b"\x3a" + _varint(len(value)) + value
    if isinstance(value, Sequence):
        return _field(b"\x2a", b"".join([_field(b"\x0a", _any_value(item)) for item in value]))
    if isinstance(value, Mapping):
        pairs = b"".join(
            [_field(b"\x0a", _key(str(k)) + _field(b"\x12", _any_value(v))) for k, v in value.items()]
        )
        return _field(b"\x32", pairs)
    raise _Unencodable


_KEYS: dict[str, bytes] = {}
_MAX_KEYS = 8192


def _key(key: str) -> bytes:
    """KeyValue field 1 for `key`, cached: the same few keys are in every span."""
    encoded = _KEYS.get(key)
    if encoded is None:
        encoded = _field(b"\x0a", key.encode("utf-8"))
        if len(_KEYS) >= _MAX_KEYS:
            _KEYS.clear()
        _KEYS[key] = encoded
    return encoded


def _attributes(tag: bytes, attributes: Mapping[str, Any] | None) -> bytes:
    """Repeated KeyValue fields with `tag`."""
    if not attributes:
        return b""
    parts = []
    for key, value in attributes.items():
        try:
            parts.append(_field(tag, _key(key) + _field(b"\x12", _any_value(value))))
        except (_Unencodable, UnicodeEncodeError):
            _log.warning("spanguard: attribute %r has a value OTLP cannot carry; left out", key)
    return b"".join(parts)


def _trace_state(trace_state: Any) -> str:
    if trace_state is None:
        return ""
    return ",".join([f"{key}={value}" for key, value in trace_state.items()])


def _string(tag: bytes, text: str | None) -> bytes:
    if not text:
        return b""
    data = text.encode("utf-8")
    return tag + _varint(len(data)) + data


def _uint(tag: bytes, value: int | None) -> bytes:
    return tag + _varint(value) if value else b""


def _span(span: ReadableSpan) -> bytes:
    context = span.get_span_context()
    assert context is not None
    parent = span.parent
    parts = [
        b"\x0a\x10",
        context.trace_id.to_bytes(16, "big"),
        b"\x12\x08",
        context.span_id.to_bytes(8, "big"),
        _string(b"\x1a", _trace_state(context.trace_state)),
        b"\x22\x08" + parent.span_id.to_bytes(8, "big") if parent else b"",
        _string(b"\x2a", span.name),
        b"\x30" + _varint(span.kind.value + 1),
        b"\x39" + _pack_fixed64(span.start_time) if span.start_time else b"",
        b"\x41" + _pack_fixed64(span.end_time) if span.end_time else b"",
        _attributes(b"\x4a", span.attributes),
        _uint(b"\x50", span.dropped_attributes),
    ]
    for event in span.events:
        body = (
            (b"\x09" + _pack_fixed64(event.timestamp) if event.timestamp else b"")
            + _string(b"\x12", event.name)
            + _attributes(b"\x1a", event.attributes)
            + _uint(b"\x20", event.dropped_attributes)
        )
        parts.append(_field(b"\x5a", body))
    parts.append(_uint(b"\x60", span.dropped_events))
    for link in span.links:
        link_context = link.context
        body = (
            b"\x0a\x10"
            + link_context.trace_id.to_bytes(16, "big")
            + b"\x12\x08"
            + link_context.span_id.to_bytes(8, "big")
            + _attributes(b"\x22", link.attributes)
            + _uint(b"\x28", link.dropped_attributes)
            + (_LINK_FLAGS_REMOTE if link_context.is_remote else _LINK_FLAGS_LOCAL)
        )
        parts.append(_field(b"\x6a", body))
    parts.append(_uint(b"\x70", span.dropped_links))
    status = span.status
    status_body = _string(b"\x12", status.description) + _uint(b"\x18", status.status_code.value)
    parts.append(_field(b"\x7a", status_body))
    parts.append(_FLAGS_REMOTE if parent is not None and parent.is_remote else _FLAGS_LOCAL)
    return b"".join(parts)


def _resource(resource: Any) -> bytes:
    return _field(b"\x0a", _attributes(b"\x0a", resource.attributes))


def _scope(scope: Any) -> bytes:
    if scope is None:
        return _field(b"\x0a", b"")
    body = (
        _string(b"\x0a", scope.name)
        + _string(b"\x12", scope.version)
        + _attributes(b"\x1a", scope.attributes)
    )
    return _field(b"\x0a", body)


class _Groups:
    """Groups keyed by equality, in first-seen order, looked up by identity first: the
    SDK groups by `==` (a `Resource` hashes a JSON dump of its attributes per span);
    nearly all spans share one object, so the identity lookup almost always answers."""

    def __init__(self) -> None:
        self.items: list[tuple[Any, Any]] = []
        self._by_id: dict[int, Any] = {}

    def get(self, key: Any, make: Any) -> Any:
        found = self._by_id.get(id(key))
        if found is None:
            for seen, value in self.items:
                if seen is key or seen == key:
                    found = value
                    break
            else:
                found = make()
                self.items.append((key, found))
            self._by_id[id(key)] = found
        return found


def encode_spans_bytes(spans: Sequence[ReadableSpan]) -> bytes:
    """The serialized `ExportTraceServiceRequest` for `spans` (resource -> scope -> spans)."""
    resources = _Groups()
    for span in spans:
        scopes = resources.get(span.resource, _Groups)
        scopes.get(span.instrumentation_scope or None, list).append(_span(span))
    out = []
    for resource, scopes in resources.items:
        scope_parts = []
        for scope, encoded in scopes.items:
            body = _scope(scope) + b"".join([_field(b"\x12", span) for span in encoded])
            body += _string(b"\x1a", scope.schema_url if scope is not None else None)
            scope_parts.append(_field(b"\x12", body))
        body = _resource(resource) + b"".join(scope_parts) + _string(b"\x1a", resource.schema_url)
        out.append(_field(b"\x0a", body))
    return b"".join(out)
