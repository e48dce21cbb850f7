"""exporters/gzip_codec: standard gzip out, every member in, garbage refused, bounded."""

from __future__ import annotations

import gzip
import zlib

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from support_phoenix import PhoenixServer

from spanguard.exporters import gzip_codec
from spanguard.exporters.span_encoder import encode_spans_bytes
from spanguard.sidecar.http_body import inflate_gzip
from spanguard.sidecar.ingest import Reason, Rejected


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=70_000))
def test_compressed_bodies_decode_with_the_standard_library(data: bytes) -> None:
    body = gzip_codec.compress(data)
    assert gzip.decompress(body) == data
    assert zlib.decompress(body, 16 + zlib.MAX_WBITS) == data
    assert gzip_codec.decompress(body) == data


def test_a_backend_other_than_the_standard_library_is_used() -> None:
    # the measured choice; the stdlib is only the fallback for a missing wheel
    assert gzip_codec.BACKEND.startswith("isal")


def test_every_member_of_a_multi_member_body_is_read() -> None:
    members = [
        gzip.compress(b"first "),
        gzip_codec.compress(b"second "),
        gzip.compress(b""),
        gzip.compress(b"third"),
    ]
    body = b"".join(members)
    assert gzip_codec.decompress(body) == b"first second third"
    assert gzip_codec.decompress(body) == gzip.decompress(body)
    assert inflate_gzip(body, 1 << 20) == b"first second third"


@pytest.mark.parametrize("tail", [b"x", b"\x00\x00\x00\x00", b"\x1f", b"garbage after the member"])
def test_trailing_garbage_is_refused(tail: bytes) -> None:
    body = gzip.compress(b"payload") + tail
    with pytest.raises(gzip_codec.GzipError, match=r"after the last gzip member|not valid|truncated"):
        gzip_codec.decompress(body)
    with pytest.raises(Rejected) as raised:
        inflate_gzip(body, 1 << 20)
    assert raised.value.reason is Reason.BAD_ENCODING


def test_truncated_broken_and_empty_bodies_are_refused_without_quoting_them() -> None:
    secret = b"hunter2-secret " * 50
    whole = gzip.compress(secret)
    for bad in (whole[:-5], whole[:20], b"\x1f\x8b" + b"\xff" * 40, b"plain text, not gzip", b""):
        with pytest.raises(gzip_codec.GzipError) as raised:
            gzip_codec.decompress(bad)
        assert "hunter2" not in str(raised.value)


def test_the_limit_stops_inflating_across_members() -> None:
    member = gzip.compress(b"a" * 1000)
    assert len(gzip_codec.decompress(member * 3, limit=3000)) == 3000
    with pytest.raises(gzip_codec.GzipTooLarge):
        gzip_codec.decompress(member * 3, limit=2999)
    with pytest.raises(gzip_codec.GzipTooLarge):
        gzip_codec.decompress(gzip.compress(b"\0" * 10_000_000), limit=1 << 20)  # a small zip bomb
    with pytest.raises(Rejected) as raised:
        inflate_gzip(member * 3, 2999)
    assert raised.value.reason is Reason.TOO_LARGE


@pytest.mark.phoenix
def test_phoenix_accepts_a_body_compressed_by_the_codec(phoenix: PhoenixServer) -> None:
    from support_spans import finished_spans

    spans = finished_spans(3, **{"openinference.span.kind": "LLM", "input.value": "hello " * 2000})
    request = ExportTraceServiceRequest.FromString(encode_spans_bytes(spans))
    project = request.resource_spans[0].resource.attributes.add()
    project.key, project.value.string_value = "openinference.project.name", "gzip-codec"
    response = httpx.post(
        phoenix.http_traces_endpoint,
        content=gzip_codec.compress(request.SerializeToString()),
        headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
        timeout=30,
    )
    assert response.status_code == 200
    arrived = phoenix.wait_for_spans("gzip-codec", count=3)
    assert sorted(span["attributes"]["input.value"] for span in arrived) == ["hello " * 2000] * 3
