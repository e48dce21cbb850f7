"""The sidecar re-encodes only the spans the rules changed and splices them into the
client's bytes; the result must parse to exactly what re-serializing the whole
transformed request gives, whatever the request's shape (several resources and scopes,
unknown fields, empty containers)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spanguard.config.model import RedactionConfig, TruncationConfig
from spanguard.exporters.splitting import split_request_wire
from spanguard.processors.otlp_adapter import RequestCounts
from spanguard.sidecar.transform import RequestTransformer, encode_request
from spanguard.sidecar.wire_split import splice_spans

TRANSFORMER = RequestTransformer(RedactionConfig(), TruncationConfig(max_length=300))

VALUES = st.sampled_from(
    ["plain words", "mail jane@example.com now", "call +1 415 555 0142", "x" * 400, "4bf92f3577b34da6", "é😀"]
)
UNKNOWN = st.sampled_from([b"", b"\xf8\x06\x07", b"\xfa\x06\x02ab", b"\x10\x05"])  # fields 111, 2 as varint


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    """Serialized requests, with unknown fields (and a varint field 2, which parsers keep as
    unknown, not as a span) spliced into the containers' bytes."""
    request = ExportTraceServiceRequest()
    for r in range(draw(st.integers(0, 3))):
        rs = request.resource_spans.add()
        if draw(st.booleans()):
            kv = rs.resource.attributes.add()
            kv.key, kv.value.string_value = "service.name", draw(VALUES)
        rs.schema_url = draw(st.sampled_from(["", "https://schema"]))
        for s in range(draw(st.integers(0, 3))):
            ss = rs.scope_spans.add()
            ss.scope.name = f"scope-{r}-{s}"
            for n in range(draw(st.integers(0, 5))):
                span = ss.spans.add()
                span.name = draw(st.sampled_from(["op", "op jane@example.com"]))
                span.trace_id = bytes(16)
                span.span_id = n.to_bytes(8, "big")
                for key in draw(st.lists(st.sampled_from(["input.value", "a", "password", "b"]), max_size=4)):
                    kv = span.attributes.add()
                    kv.key, kv.value.string_value = key, draw(VALUES)
    if not draw(st.booleans()):
        return request.SerializeToString()
    # rebuild by hand with unknown fields at every level
    out = bytearray()
    for rs in request.resource_spans:
        inner = bytearray(draw(UNKNOWN))
        inner += _field(1, rs.resource.SerializeToString())
        for ss in rs.scope_spans:
            scope = bytearray(_field(1, ss.scope.SerializeToString()) + draw(UNKNOWN))
            for span in ss.spans:
                scope += _field(2, span.SerializeToString()) + draw(UNKNOWN)
            inner += _field(2, bytes(scope)) + draw(UNKNOWN)
        out += _field(1, bytes(inner)) + draw(UNKNOWN)
    return bytes(out)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_spliced_request_parses_like_a_full_reserialization(original: bytes) -> None:
    request = ExportTraceServiceRequest.FromString(original)
    counts = TRANSFORMER.apply(request)
    encoded = b"".join(encode_request(request, original, counts))
    assert ExportTraceServiceRequest.FromString(encoded) == request
    assert ExportTraceServiceRequest.FromString(encoded) == ExportTraceServiceRequest.FromString(
        request.SerializeToString()
    )
    if not counts.changed:
        assert encode_request(request, original, counts)[0] is original  # the client's bytes, untouched


def test_only_changed_spans_are_reencoded() -> None:
    request = ExportTraceServiceRequest()
    ss = request.resource_spans.add().scope_spans.add()
    for n in range(4):
        span = ss.spans.add()
        span.name = "op"
        kv = span.attributes.add()
        kv.key, kv.value.string_value = "input.value", "mail jane@example.com" if n == 2 else "clean"
    original = request.SerializeToString() + b"\xf8\x06\x07"  # an unknown field the splice keeps
    parsed = ExportTraceServiceRequest.FromString(original)
    counts = TRANSFORMER.apply(parsed)
    assert counts.changed_spans == frozenset({2}) and not counts.changed_other
    encoded = b"".join(encode_request(parsed, original, counts))
    assert encoded.endswith(b"\xf8\x06\x07")
    assert ExportTraceServiceRequest.FromString(encoded) == parsed
    assert b"jane@example.com" not in encoded


def test_resource_changes_fall_back_to_full_serialization() -> None:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "owner", "jane@example.com"
    rs.scope_spans.add().spans.add().name = "op"
    original = request.SerializeToString()
    parsed = ExportTraceServiceRequest.FromString(original)
    counts = TRANSFORMER.apply(parsed)
    assert counts.changed_other
    encoded = b"".join(encode_request(parsed, original, counts))
    assert encoded == parsed.SerializeToString() and b"jane@example.com" not in encoded


def test_splice_refuses_a_wrong_span_count_or_garbage() -> None:
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.add().name = "op"
    body = request.SerializeToString()
    assert splice_spans(body, {0: b""}, 2) is None
    assert splice_spans(b"\x0a\xff\xff\xff\xff\x0f" + b"x" * 10, {}, 0) is None
    assert b"".join(splice_spans(body, {}, 1) or [b"?"]) == body
    counts = RequestCounts(spans=2, redacted=1, changed_spans=frozenset({0}))
    parsed = ExportTraceServiceRequest.FromString(body)
    # a span re-encoded from canonical input: the same bytes
    assert b"".join(encode_request(parsed, body, counts)) == parsed.SerializeToString()


def test_many_changed_spans_come_back_as_few_buffers() -> None:
    request = ExportTraceServiceRequest()
    ss = request.resource_spans.add().scope_spans.add()
    for n in range(700):
        kv = ss.spans.add().attributes.add()
        kv.key, kv.value.string_value = "input.value", f"mail u{n}@example.com" if n % 2 else "clean"
    original = request.SerializeToString()
    parsed = ExportTraceServiceRequest.FromString(original)
    counts = TRANSFORMER.apply(parsed)
    assert len(counts.changed_spans) == 350
    parts = encode_request(parsed, original, counts)
    assert len(parts) <= 512  # one writev, whatever the request
    assert ExportTraceServiceRequest.FromString(b"".join(parts)) == parsed


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(requests(), min_size=1, max_size=3), st.integers(1, 400))
def test_wire_split_pieces_keep_every_span_with_resource_and_scope(bodies: list[bytes], limit: int) -> None:
    whole = ExportTraceServiceRequest.FromString(b"".join(bodies))
    expected = [
        (rs.resource, rs.schema_url, ss.scope, span)
        for rs in whole.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]
    pieces = split_request_wire(bodies, limit)
    got = []
    for piece, count in pieces:
        request = ExportTraceServiceRequest.FromString(piece)
        found = [
            (rs.resource, rs.schema_url, ss.scope, span)
            for rs in request.resource_spans
            for ss in rs.scope_spans
            for span in ss.spans
        ]
        assert count in (-1, len(found))
        got.extend(found)
    assert got == expected
