"""Cut an ExportTraceServiceRequest into smaller ones on the wire, without parsing it.

Backends cap message size (gRPC servers, the Collector included, default to 4 MiB)
while clients may send 16 MB. Parsing a 6 MB request into Python objects and
serializing the pieces costs ~20 ms; walking the protobuf framing down to the span
level is ~1000 varint reads and slices of the original bytes. Each piece repeats its
resource and scope, so spans keep their attribution. Input comes from our own queue
(parsed and checksummed before), but a malformed buffer still raises `ValueError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from spanguard.processors.protowire import LEN as _LEN
from spanguard.processors.protowire import encode_varint, fields

# request.resource_spans = 1; ResourceSpans.scope_spans = 2; ScopeSpans.spans = 2
_RESOURCE_SPANS = 1
_SCOPE_SPANS = 2
_SPANS = 2
_PIECE_OVERHEAD = 32  # tags and lengths added around each piece


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
        view = memoryview(body)
        for number, wire_type, _, rs_payload, rs_end in fields(view, 0, len(view)):
            if number != _RESOURCE_SPANS or wire_type != _LEN or rs_payload == rs_end:
                continue
            rs_fields = fields(view, rs_payload, rs_end)
            # a field with the right number but another wire type is unknown to parsers: it
            # rides along in the head of every piece, like any other non-span field
            rs_head = b"".join(view[s:e] for n, w, s, _, e in rs_fields if n != _SCOPE_SPANS or w != _LEN)
            for n, w, _, ss_payload, ss_end in rs_fields:
                if n != _SCOPE_SPANS or w != _LEN or ss_payload == ss_end:
                    continue
                ss_fields = fields(view, ss_payload, ss_end)
                ss_head = b"".join(view[s:e] for m, w, s, _, e in ss_fields if m != _SPANS or w != _LEN)
                head_size = len(rs_head) + len(ss_head) + _PIECE_OVERHEAD
                # runs of adjacent span fields as [start, end) pairs: one slice per run
                group: list[list[int]] = []
                group_size = 0
                for m, w, start, _, stop in ss_fields:
                    if m != _SPANS or w != _LEN:
                        continue
                    if (group or buffers) and size + head_size + group_size + stop - start > limit:
                        if group:
                            buffers.extend(_piece(rs_head, ss_head, _slices(view, group), group_size))
                        flush()
                        group, group_size = [], 0
                    if group and group[-1][1] == start:
                        group[-1][1] = stop
                    else:
                        group.append([start, stop])
                    group_size += stop - start
                    spans += 1
                if group:
                    buffers.extend(_piece(rs_head, ss_head, _slices(view, group), group_size))
                    size += head_size + group_size
    flush()
    return chunks


def _slices(view: memoryview, runs: list[list[int]]) -> list[memoryview]:
    return [view[start:stop] for start, stop in runs]


def _piece(
    rs_head: bytes, ss_head: bytes, spans: list[memoryview], spans_size: int
) -> list[bytes | memoryview]:
    """One ResourceSpans{resource..., ScopeSpans{scope..., spans}} as buffers to join later."""
    scope_len = len(ss_head) + spans_size
    scope_tag = encode_varint(_SCOPE_SPANS << 3 | _LEN) + encode_varint(scope_len)
    rs_len = len(rs_head) + len(scope_tag) + scope_len
    rs_tag = encode_varint(_RESOURCE_SPANS << 3 | _LEN) + encode_varint(rs_len)
    return [rs_tag, rs_head, scope_tag, ss_head, *spans]


def splice_spans(
    original: bytes, replacements: Mapping[int, bytes], total_spans: int
) -> list[bytes | memoryview] | None:
    """`original` with span number i (in request order) replaced by `replacements[i]`, the
    enclosing ScopeSpans and ResourceSpans lengths rewritten; every other byte as it came.

    Why: re-serializing a 6 MB request costs more than the redaction that changed a
    quarter of its spans. A span's bytes parse the same wherever they sit, so the
    unchanged ones are copied, not re-encoded. Returns None (the caller re-serializes the
    whole message) when the walk does not find exactly `total_spans` spans, or on any
    framing it does not expect. The result is a list of buffers to write one after the
    other (slices of `original` among them): joining 6 MB costs a copy we can skip.
    """
    try:
        parts, spans, _ = _splice_message(original, 0, len(original), replacements, 0, 0)
    except ValueError:
        return None
    if spans != total_spans:
        return None
    return parts


def _splice_message(
    buf: bytes, pos: int, end: int, replacements: Mapping[int, bytes], depth: int, first_span: int
) -> tuple[list[bytes | memoryview], int, bool]:
    """Parts of buf[pos:end] (a request at depth 0, ResourceSpans at 1, ScopeSpans at 2) with
    spans replaced, the span index after it (indexes continue from `first_span`), and
    whether anything in it was replaced."""
    view = memoryview(buf)
    parts: list[bytes | memoryview] = []
    copy_from = pos  # verbatim bytes not yet emitted start here
    index = first_span
    changed = False
    child = (_RESOURCE_SPANS, _SCOPE_SPANS, _SPANS)[depth]
    for number, wire_type, start, payload, stop in fields(buf, pos, end):
        if number != child or wire_type != _LEN:
            continue  # other fields (and mismatched wire types, unknown to parsers) stay as they are
        if depth == 2:
            new = replacements.get(index)
            index += 1
            if new is None:
                continue
            body: list[bytes | memoryview] = [new]
        else:
            body, index, inner_changed = _splice_message(buf, payload, stop, replacements, depth + 1, index)
            if not inner_changed:
                continue
        if copy_from < start:
            parts.append(view[copy_from:start])
        size = sum(len(b) for b in body)
        parts.append(encode_varint(child << 3 | _LEN) + encode_varint(size))
        parts.extend(body)
        copy_from = stop
        changed = True
    if copy_from < end:
        parts.append(view[copy_from:end])
    return parts, index, changed
