"""The one request splitter: OTLP requests cut to fit a backend's message size limit.

Backends cap message size (gRPC servers, the Collector included, default to 4 MiB;
HTTP backends answer 413) while clients may send 16 MB and one file line of
`spanguard replay` holds a whole exported batch. Sent whole, an oversize request is
refused every time, so every sender cuts on span boundaries first; each piece repeats
its resource and scope, so spans keep their attribution.

The job is done on the wire, without parsing: parsing a 6 MB request into Python
objects and serializing the pieces costs ~20 ms; walking the protobuf framing down to
the span level is ~1000 varint reads and slices of the original bytes. Sidecar delivery
(`split_request`), replay (`pack_requests`) and the JSON Lines writers (`json_lines`: the
file exporters and the dead-letter file keep each line under the 1 MiB a Collector's
`otlpjsonfile` receiver reads) use it. The in-process fan-out hands SDK
spans to the SDK's exporters, which encode them, so it splits before encoding, on an
estimate of each span's size (`split_by_size`).

Input to the wire splitter comes from our own queue or a parsed file (parsed and
checked before), but a malformed buffer still raises `ValueError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans
from opentelemetry.sdk.trace import ReadableSpan

from spanguard.exporters.otlp_json import encode_traces_json_line
from spanguard.exporters.oversize import estimate_span_bytes
from spanguard.processors.protowire import LEN as _LEN
from spanguard.processors.protowire import encode_varint, fields

# request.resource_spans = 1; ResourceSpans.scope_spans = 2; ScopeSpans.spans = 2
_RESOURCE_SPANS = 1
_SCOPE_SPANS = 2
_SPANS = 2
_PIECE_OVERHEAD = 32  # tags and lengths added around each piece
_RESOURCE_SPANS_TAG = encode_varint(_RESOURCE_SPANS << 3 | _LEN)
# The Collector's `otlpjsonfile` receiver reads lines of up to 1 MiB by default.
DEFAULT_MAX_LINE_BYTES = 1024 * 1024
_LINE_MARGIN = 0.9  # aim below the limit: JSON grows unevenly across the pieces


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


def split_request(bodies: Sequence[bytes | memoryview], limit: int, spans: int) -> list[tuple[bytes, int]]:
    """The queued requests as (request, spans) pieces below `limit` (a span larger than the
    limit goes alone).

    Backends cap message size (gRPC: 4 MiB by default) while the queue holds whatever
    the clients sent, so delivery joins small requests and cuts big ones on span
    boundaries, keeping resource and scope.
    """
    parts = split_request_wire(bodies, limit)
    if len(parts) == 1:
        return [(parts[0][0], spans)]
    return parts


def pack_resource_spans(
    resource_spans: Iterable[ResourceSpans], max_request_bytes: int
) -> Iterator[tuple[bytes, int]]:
    """(request bytes, spans) of at most `max_request_bytes` each (unless one span alone
    is larger), from a stream of ResourceSpans: consecutive ones joined, an oversize one cut."""
    pending: list[bytes] = []
    pending_size = 0
    pending_spans = 0
    for item in resource_spans:
        encoded = item.SerializeToString()
        body = _RESOURCE_SPANS_TAG + encode_varint(len(encoded)) + encoded
        spans = sum(len(scope.spans) for scope in item.scope_spans)
        if pending and pending_size + len(body) > max_request_bytes:
            yield b"".join(pending), pending_spans
            pending, pending_size, pending_spans = [], 0, 0
        if len(body) > max_request_bytes:
            yield from split_request_wire([body], max_request_bytes)
            continue
        pending.append(body)
        pending_size += len(body)
        pending_spans += spans
    if pending:
        yield b"".join(pending), pending_spans


def split_by_size(spans: Sequence[ReadableSpan], limit: int) -> Iterator[list[ReadableSpan]]:
    """Consecutive chunks of `spans` whose estimated sizes add up to at most `limit`."""
    chunk: list[ReadableSpan] = []
    chunk_size = 0
    for span in spans:
        size = estimate_span_bytes(span)
        if chunk and chunk_size + size > limit:
            yield chunk
            chunk, chunk_size = [], 0
        chunk.append(span)
        chunk_size += size
    if chunk:
        yield chunk


def json_lines(
    request: bytes | ExportTraceServiceRequest, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> list[str]:
    """One request (its bytes, or parsed) as OTLP JSON lines (no newlines) of at most
    `max_line_bytes` UTF-8 bytes each, every span in order; `max_line_bytes <= 0`: one line,
    whatever its size.

    JSON is larger than protobuf by a factor that depends on the content (hex ids, base64
    bytes, escaped text), so the protobuf is cut at the limit scaled by the factor this
    request showed, and a piece whose line still comes out too long is cut again, smaller.
    A single span whose line is over the limit goes alone on its line (truncation is what
    bounds one span).
    """
    parsed = ExportTraceServiceRequest.FromString(request) if isinstance(request, bytes) else request
    line = encode_traces_json_line(parsed)
    # a UTF-8 character is at most 4 bytes: most lines need no encoding to be measured
    if max_line_bytes <= 0 or len(line) * 4 <= max_line_bytes:
        return [line]
    size = len(line.encode("utf-8", errors="surrogatepass"))
    if size <= max_line_bytes:
        return [line]
    body = request if isinstance(request, bytes) else request.SerializeToString()
    limit = max(1, int(len(body) * max_line_bytes / size * _LINE_MARGIN))
    pieces = split_request_wire([body], limit)
    if len(pieces) == 1:
        return [line]  # one span: nothing left to cut
    lines: list[str] = []
    for piece, _ in pieces:
        lines.extend(json_lines(piece, max_line_bytes))
    return lines
