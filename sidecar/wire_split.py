"""Replace spans of an ExportTraceServiceRequest on the wire, without re-encoding the rest.

(Cutting a request into pieces on the wire, which lived here too, is the exporters
package's one request splitter now: `spanguard.exporters.splitting`.)
"""

from __future__ import annotations

from collections.abc import Mapping

from spanguard.exporters.splitting import split_request_wire
from spanguard.processors.protowire import LEN as _LEN
from spanguard.processors.protowire import encode_varint, fields

__all__ = ["splice_spans", "split_request_wire"]  # split_request_wire: kept importable from here

# request.resource_spans = 1; ResourceSpans.scope_spans = 2; ScopeSpans.spans = 2
_RESOURCE_SPANS = 1
_SCOPE_SPANS = 2
_SPANS = 2


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
