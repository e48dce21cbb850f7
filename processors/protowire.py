"""Protobuf base-128 varints, for the code that walks OTLP bytes without parsing them
(the adapter's unit bounds and attribute narrowing, the sidecar's splitting and splicing).

The walkers inline one- and two-byte varints in their hot loops; this is the general
case. Malformed input (running past the buffer, longer than 64 bits) is a ValueError,
so a walker has one exception to turn into "fall back to the full parse".
"""

from __future__ import annotations

LEN = 2  # the length-delimited wire type: strings, bytes, embedded messages


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


def fields(buf: bytes | memoryview, pos: int, end: int) -> list[tuple[int, int, int, int, int]]:
    """The fields of buf[pos:end] as (number, wire type, start, payload start, end).

    One tight loop with the one- and two-byte varints inline: a 512-span request has
    about a thousand fields on the way down to its spans, walked for every request.
    Field order, repeats and unknown fields come back as they are on the wire.
    """
    out: list[tuple[int, int, int, int, int]] = []
    append = out.append
    while pos < end:
        start = pos
        key = buf[pos]
        if key < 0x80:
            pos += 1
        else:
            key, pos = read_varint(buf, pos)
        wire_type = key & 7
        if wire_type == LEN:
            if pos >= end:
                raise ValueError("field runs past the end")
            length = buf[pos]
            if length < 0x80:
                pos += 1
            elif pos + 1 < end and buf[pos + 1] < 0x80:
                length = (length & 0x7F) | buf[pos + 1] << 7
                pos += 2
            else:
                length, pos = read_varint(buf, pos)
            payload = pos
            pos += length
        elif wire_type == 0:
            _, pos = read_varint(buf, pos)
            payload = pos
        elif wire_type == 1:
            pos += 8
            payload = pos
        elif wire_type == 5:
            pos += 4
            payload = pos
        else:
            raise ValueError("unsupported wire type")
        if pos > end:
            raise ValueError("field runs past the end")
        append((key >> 3, wire_type, start, payload, pos))
    return out
