"""Cut an ExportTraceServiceRequest into smaller ones on the wire, without parsing it.

Backends cap message size (gRPC servers, the Collector included, default to 4 MiB)
while clients may send 16 MB. Parsing a 6 MB request into Python objects and
serializing the pieces costs ~20 ms; walking the protobuf framing down to the span
level is ~1000 varint reads and slices of the original bytes. Each piece repeats its
resource and scope, so spans keep their attribution. Input comes from our own queue
(parsed and CRC-checked before), but a malformed buffer still raises `ValueError`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

_LEN = 2
# request.resource_spans = 1; ResourceSpans.scope_spans = 2; ScopeSpans.spans = 2
_RESOURCE_SPANS = 1
_SCOPE_SPANS = 2
_SPANS = 2
_PIECE_OVERHEAD = 32  # tags and lengths added around each piece


def _varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("bad varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _fields(buf: memoryview) -> Iterator[tuple[int, memoryview, memoryview]]:
    """(field number, whole field bytes, payload bytes for LEN fields else empty)."""
    pos = 0
    end = len(buf)
    while pos < end:
        start = pos
        key, pos = _varint(buf, pos)
        number, wire_type = key >> 3, key & 7
        payload = buf[0:0]
        if wire_type == 0:
            _, pos = _varint(buf, pos)
        elif wire_type == 1:
            pos += 8
        elif wire_type == 5:
            pos += 4
        elif wire_type == _LEN:
            length, pos = _varint(buf, pos)
            payload = buf[pos : pos + length]
            pos += length
        else:
            raise ValueError("unsupported wire type")
        if pos > end:
            raise ValueError("field runs past the end")
        yield number, buf[start:pos], payload


def split_request_wire(bodies: Sequence[bytes | memoryview], limit: int) -> list[tuple[bytes, int]]:
    """(request, span count) pieces of at most about `limit` bytes holding every span of the
    concatenated `bodies`, in order, each piece copied once. Bodies within the limit come
    back joined, with count -1 (not counted)."""
    total = sum(len(body) for body in bodies)
    if total <= limit:
        return [(b"".join(bodies), -1)]
    chunks: list[tuple[bytes, int]] = []
    buffers: list[bytes | memoryview] = []
    size = 0
    spans = 0

    def flush() -> None:
        nonlocal buffers, size, spans
        if buffers:
            chunks.append((b"".join(buffers), spans))
        buffers, size, spans = [], 0, 0

    for body in bodies:
        for number, _, rs in _fields(memoryview(body)):
            if number != _RESOURCE_SPANS:
                continue
            rs_fields = list(_fields(rs))
            rs_head = b"".join(bytes(w) for n, w, _ in rs_fields if n != _SCOPE_SPANS)
            for n, _, ss in rs_fields:
                if n != _SCOPE_SPANS:
                    continue
                ss_fields = list(_fields(ss))
                ss_head = b"".join(bytes(w) for m, w, _ in ss_fields if m != _SPANS)
                head_size = len(rs_head) + len(ss_head) + _PIECE_OVERHEAD
                group: list[memoryview] = []
                group_size = 0
                for m, span_field, _ in ss_fields:
                    if m != _SPANS:
                        continue
                    if (group or buffers) and size + head_size + group_size + len(span_field) > limit:
                        if group:
                            buffers.extend(_piece(rs_head, ss_head, group, group_size))
                        flush()
                        group, group_size = [], 0
                    group.append(span_field)
                    group_size += len(span_field)
                    spans += 1
                if group:
                    buffers.extend(_piece(rs_head, ss_head, group, group_size))
                    size += head_size + group_size
    flush()
    return chunks


def _piece(
    rs_head: bytes, ss_head: bytes, spans: list[memoryview], spans_size: int
) -> list[bytes | memoryview]:
    """One ResourceSpans{resource..., ScopeSpans{scope..., spans}} as buffers to join later."""
    scope_len = len(ss_head) + spans_size
    scope_tag = _encode_varint(_SCOPE_SPANS << 3 | _LEN) + _encode_varint(scope_len)
    rs_len = len(rs_head) + len(scope_tag) + scope_len
    rs_tag = _encode_varint(_RESOURCE_SPANS << 3 | _LEN) + _encode_varint(rs_len)
    return [rs_tag, rs_head, scope_tag, ss_head, *spans]
