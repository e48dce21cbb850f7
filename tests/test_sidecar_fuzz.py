"""Fuzzing the decoders, in process and through a live sidecar: no crash, no hang."""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from support_sidecar import SidecarProcess, grpc_export, make_request, sidecar_config

from spanguard.sidecar.http_body import inflate_gzip
from spanguard.sidecar.ingest import Rejected, decode_json, decode_protobuf

VALID = make_request([1, 2, 3], text="fuzz me", extra_attrs=2)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid request with bytes flipped, cut, or inserted: close enough to reach deep parsing."""
    data = bytearray(VALID)
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del data[pos : pos + draw(st.integers(1, 64))]
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


bodies = st.one_of(st.binary(max_size=2048), mutated())


@settings(max_examples=400, deadline=None)
@given(bodies)
def test_protobuf_decoder_accepts_or_rejects_cleanly(body: bytes) -> None:
    try:
        request = decode_protobuf(body)
    except Rejected as exc:
        assert exc.detail == "body is not a valid ExportTraceServiceRequest"
        return
    assert isinstance(request, ExportTraceServiceRequest)
    request.SerializeToString()


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=1024),
        st.text(max_size=512).map(str.encode),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(
                    st.sampled_from(
                        ["resourceSpans", "scopeSpans", "spans", "traceId", "attributes", "key", "value"]
                    ),
                    inner,
                    max_size=4,
                )
            ),
            max_leaves=30,
        ).map(lambda v: repr(v).replace("'", '"').encode()),
    )
)
def test_json_decoder_accepts_or_rejects_cleanly(body: bytes) -> None:
    with contextlib.suppress(Rejected):
        decode_json(body)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=512),
        st.binary(max_size=4096).map(gzip.compress),
        st.binary(min_size=1, max_size=4096).map(lambda b: gzip.compress(b)[: len(b) // 2]),
    )
)
def test_gzip_inflate_is_bounded_and_clean(body: bytes) -> None:
    try:
        out = inflate_gzip(body, limit=2048)
    except Rejected:
        return
    assert len(out) <= 2048


@pytest.fixture(scope="module")
def live_sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    tmp_path: Path = tmp_path_factory.mktemp("fuzz")
    process = SidecarProcess(sidecar_config(tmp_path, max_request_bytes="64KB"), tmp_path)
    yield process
    process.kill()


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bodies, st.booleans())
def test_live_receivers_answer_every_fuzzed_body(
    live_sidecar: SidecarProcess, body: bytes, use_gzip: bool
) -> None:
    headers = {"Content-Type": "application/x-protobuf"}
    content = body
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
        content = gzip.compress(body)
    response = httpx.post(f"{live_sidecar.http_url}/v1/traces", content=content, headers=headers, timeout=10)
    assert response.status_code in (200, 400)
    code = grpc_export(live_sidecar.grpc_address, body, timeout_s=10)
    assert code in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT)
    assert (response.status_code == 200) == (code == grpc.StatusCode.OK)


@pytest.mark.slow
def test_live_sidecar_is_healthy_after_fuzzing(live_sidecar: SidecarProcess) -> None:
    assert httpx.get(f"{live_sidecar.http_url}/healthz", timeout=5).status_code == 200
    assert grpc_export(live_sidecar.grpc_address, VALID) == grpc.StatusCode.OK
    assert live_sidecar.process is not None and live_sidecar.process.poll() is None
    assert "Traceback" not in live_sidecar.stderr_text()
