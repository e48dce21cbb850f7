"""What one queue record holds: the span count, then the request bytes as they go out.

The count rides along so delivery can report spans exported without parsing the
request again; the request bytes are exactly what is forwarded. Serialized
ExportTraceServiceRequests concatenate into a valid request (protobuf merges repeated
fields), so a delivery batch is the records' request bytes joined, no re-encoding.
"""

from __future__ import annotations

import struct

_COUNT = struct.Struct("<I")


def pack(spans: int, request_bytes: bytes) -> bytes:
    return _COUNT.pack(spans) + request_bytes


def header(spans: int) -> bytes:
    """The prefix alone, for writers that append prefix and body without joining them."""
    return _COUNT.pack(spans)


def unpack(record: bytes) -> tuple[int, memoryview]:
    if len(record) < _COUNT.size:
        raise ValueError("queue record too short")
    (spans,) = _COUNT.unpack_from(record)
    return spans, memoryview(record)[_COUNT.size :]


def bodies(records: list[bytes]) -> tuple[int, list[memoryview]]:
    """(total spans, the request bytes of each record, not copied)."""
    total = 0
    parts: list[memoryview] = []
    for record in records:
        spans, body = unpack(record)
        total += spans
        parts.append(body)
    return total, parts


def join(records: list[bytes]) -> tuple[int, bytes]:
    """(total spans, one request holding all of them)."""
    total, parts = bodies(records)
    return total, b"".join(parts)
