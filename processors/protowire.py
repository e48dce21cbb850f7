"""Protobuf base-128 varints, for the code that walks OTLP bytes without parsing them
(the adapter's attribute narrowing, the sidecar's splitting and splicing).

The walkers inline one- and two-byte varints in their hot loops; this is the general
case. Malformed input (running past the buffer, longer than 64 bits) is a ValueError,
so a walker has one exception to turn into "fall back to the full parse".
"""

from __future__ import annotations


def read_varint(buffer: bytes | memoryview, pos: int) -> tuple[int, int]:
    """The varint at `pos` and the position after it."""
    result = 0
    shift = 0
    end = len(buffer)
    while True:
        if pos >= end or shift > 63:
            raise ValueError("bad varint")
        byte = buffer[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)
