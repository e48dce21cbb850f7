"""Where each resource, scope and span of a request lies in the bytes it arrived as.

The prefilter needs every unit's serialized bytes. Serializing 514 units of a parsed
6 MB request costs ~2.5 ms of the GIL per request; the sidecar already holds the
client's bytes, whose units are the same bytes (a parsed string is a verbatim copy of
its field). So the request is walked down to its spans instead (~1000 varint reads),
and the scan runs over the client's buffer as it is.

The walk must agree with the parser unit for unit, or hits would land on the wrong
span. It answers None (serialize instead) wherever the two could differ: a resource or
scope field that occurs twice (the parser merges them into bytes that exist nowhere),
units out of request order, or framing it cannot follow.
"""

from __future__ import annotations

from spanguard.processors.protowire import LEN, fields

# request.resource_spans = 1; ResourceSpans.resource = 1, .scope_spans = 2;
# ScopeSpans.scope = 1, .spans = 2
_RESOURCE_SPANS = 1
_HEAD = 1
_CHILDREN = 2


def unit_bounds(original: bytes | memoryview) -> tuple[list[int], list[int]] | None:
    """(starts, ends): the payload of every resource, scope and span, in the order the
    parser lists them (resource, then per scope: scope, its spans), or None."""
    starts: list[int] = []
    ends: list[int] = []
    try:
        for number, wire_type, _, rs_payload, rs_end in fields(original, 0, len(original)):
            if number != _RESOURCE_SPANS or wire_type != LEN:
                continue  # unknown or mis-typed: the parser skips it too
            rs_fields = fields(original, rs_payload, rs_end)
            if not _add_head(rs_fields, rs_payload, starts, ends):
                return None
            for n, w, _, ss_payload, ss_end in rs_fields:
                if n != _CHILDREN or w != LEN:
                    continue
                ss_fields = fields(original, ss_payload, ss_end)
                if not _add_head(ss_fields, ss_payload, starts, ends):
                    return None
                for m, v, _, span_payload, span_end in ss_fields:
                    if m == _CHILDREN and v == LEN:
                        starts.append(span_payload)
                        ends.append(span_end)
    except ValueError:
        return None
    for index in range(1, len(starts)):
        if starts[index] < ends[index - 1]:
            return None  # a head after its children: not in request order
    return starts, ends


def _add_head(
    message_fields: list[tuple[int, int, int, int, int]], payload: int, starts: list[int], ends: list[int]
) -> bool:
    """The resource (or scope) of one message; an absent one is empty, at the message start."""
    heads = [
        (start, end)
        for number, wire_type, _, start, end in message_fields
        if number == _HEAD and wire_type == LEN
    ]
    if len(heads) > 1:
        return False
    start, end = heads[0] if heads else (payload, payload)
    starts.append(start)
    ends.append(end)
    return True
