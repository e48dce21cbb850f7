"""Bad input at both doors gets the right protocol error, is counted, and harms nothing."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2
from support_sidecar import (
    EXPORT_PATH,
    SidecarProcess,
    grpc_export,
    make_request,
    sidecar_config,
    spans_seqs,
    wait_for,
)

from spanguard.processors.protowire import encode_varint
from spanguard.sidecar.grpc_receiver import WAITING

PROTOBUF = {"Content-Type": "application/x-protobuf"}
TOKEN = "s3cret-token-for-tests"


def rejected(sidecar: SidecarProcess, protocol: str, reason: str) -> float:
    return sidecar.metrics().get(
        f'spanguard_sidecar_requests_rejected_total{{protocol="{protocol}",reason="{reason}"}}', 0.0
    )


def retry_delay_s(trailing_metadata: Sequence[tuple[str, Any]]) -> int:
    """The RetryInfo delay an OTLP client reads from grpc-status-details-bin."""
    status = status_pb2.Status.FromString(dict(trailing_metadata)["grpc-status-details-bin"])
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info)
    return int(info.retry_delay.seconds)


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    tmp_path = tmp_path_factory.mktemp("protocol")
    config = sidecar_config(
        tmp_path, max_request_bytes="1MB", redaction={"enabled": False}, truncation={"enabled": False}
    )
    process = SidecarProcess(config, tmp_path)
    yield process
    process.kill()


def _field(number: int, payload: bytes) -> bytes:
    return encode_varint(number << 3 | 2) + encode_varint(len(payload)) + payload


def deeply_nested_request(depth: int) -> bytes:
    """A span attribute whose AnyValue nests arrays `depth` levels deep."""
    value = b""
    for _ in range(depth):
        value = _field(5, _field(1, value))  # AnyValue.array_value -> ArrayValue.values
    key_value = _field(1, b"nested") + _field(2, value)
    span = _field(1, b"\x01" * 16) + _field(2, b"\x02" * 8) + _field(5, b"deep") + _field(9, key_value)
    return _field(1, _field(2, _field(2, span)))  # request.resource_spans.scope_spans.spans


def invalid_utf8_request() -> bytes:
    body = make_request([1], text="MARKERMARKER")
    return body.replace(b"MARKERMARKER", b"\xff\xfe\xfd" * 4)


BAD_BODIES: dict[str, bytes] = {
    "garbage": b"\xff\xff\xff\xff this is not protobuf \x00\x01",
    "truncated": make_request([1, 2, 3])[:-7],
    "invalid_utf8": invalid_utf8_request(),
    "deep_nesting": deeply_nested_request(300),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BAD_BODIES))
def test_bad_protobuf_is_400_over_http_and_invalid_argument_over_grpc(
    sidecar: SidecarProcess, name: str
) -> None:
    body = BAD_BODIES[name]
    response = httpx.post(f"{sidecar.http_url}/v1/traces", content=body, headers=PROTOBUF)
    assert response.status_code == 400
    assert grpc_export(sidecar.grpc_address, body) == grpc.StatusCode.INVALID_ARGUMENT
    # the server is unharmed: a good request still goes through
    assert grpc_export(sidecar.grpc_address, make_request([10_000])) == grpc.StatusCode.OK


@pytest.mark.slow
def test_shallow_nesting_is_fine(sidecar: SidecarProcess) -> None:
    body = deeply_nested_request(20)
    response = httpx.post(f"{sidecar.http_url}/v1/traces", content=body, headers=PROTOBUF)
    assert response.status_code == 200


@pytest.mark.slow
def test_wrong_content_type_is_415(sidecar: SidecarProcess) -> None:
    response = httpx.post(
        f"{sidecar.http_url}/v1/traces", content=make_request([1]), headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    response = httpx.post(
        f"{sidecar.http_url}/v1/traces",
        content=make_request([1]),
        headers={**PROTOBUF, "Content-Encoding": "br"},
    )
    assert response.status_code == 415


@pytest.mark.slow
def test_oversized_body_is_413_and_resource_exhausted(sidecar: SidecarProcess) -> None:
    big = make_request(list(range(40)), text="y" * 40_000)  # ~1.6 MB > 1MB limit
    assert len(big) > 1_000_000
    too_large, unreadable = rejected(sidecar, "http", "too_large"), rejected(sidecar, "grpc", "unreadable")
    response = httpx.post(f"{sidecar.http_url}/v1/traces", content=big, headers=PROTOBUF)
    assert response.status_code == 413
    assert rejected(sidecar, "http", "too_large") == too_large + 1
    # gRPC core refuses it from the length prefix; the handler counts the call that ended unread
    # (the client may hear core's answer before the handler has counted it)
    assert grpc_export(sidecar.grpc_address, big) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert wait_for(lambda: rejected(sidecar, "grpc", "unreadable") == unreadable + 1)
    # a gzip body that inflates past the limit is refused too, without inflating it all
    bomb = gzip.compress(b"\x00" * 20_000_000)
    response = httpx.post(
        f"{sidecar.http_url}/v1/traces", content=bomb, headers={**PROTOBUF, "Content-Encoding": "gzip"}
    )
    assert response.status_code == 413


@pytest.mark.slow
def test_a_stream_of_zero_or_two_messages_is_invalid_argument(sidecar: SidecarProcess) -> None:
    before = rejected(sidecar, "grpc", "bad_encoding")
    refused, accepted = make_request([20_001]), make_request([20_002])
    with grpc.insecure_channel(sidecar.grpc_address) as channel:
        # a raw client may stream on the unary method's path; OTLP clients never do
        export = channel.stream_stream(EXPORT_PATH, request_serializer=None, response_deserializer=None)
        for messages in ([], [refused, refused]):
            with pytest.raises(grpc.RpcError) as info:
                list(export(iter(messages), timeout=10))
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert list(export(iter([accepted]), timeout=10)) == [b""]  # one message is an ordinary export
    assert rejected(sidecar, "grpc", "bad_encoding") == before + 2
    out = Path(sidecar.config["exporters"]["file"]["path"])
    assert wait_for(lambda: 20_002 in spans_seqs(out))
    assert 20_001 not in spans_seqs(out)


def _held_request(seq: int, release: threading.Event) -> Iterator[bytes]:
    """A call whose message comes only once `release` is set: it holds its place meanwhile."""
    release.wait()
    yield make_request([seq])


@pytest.mark.slow
def test_calls_past_the_limit_are_refused_at_once_counted_and_nothing_admitted_is_lost(
    tmp_path: Path, start_sidecar: Any
) -> None:
    sidecar = start_sidecar(
        sidecar_config(tmp_path, redaction={"enabled": False}, truncation={"enabled": False})
    )
    excess = 3
    seqs = [40_000 + n for n in range(WAITING + excess)]
    release = threading.Event()
    finished = threading.Semaphore(0)
    with grpc.insecure_channel(sidecar.grpc_address) as channel:
        export = channel.stream_unary(EXPORT_PATH, request_serializer=None, response_deserializer=None)
        calls = [export.future(_held_request(seq, release), timeout=120) for seq in seqs]
        for call in calls:
            call.add_done_callback(lambda _call: finished.release())
        try:
            # WAITING calls get in and wait for their message, which holds them there; the
            # others are refused while they wait, without a slot ever freeing
            for _ in range(excess):
                assert finished.acquire(timeout=60)
            refused = [call for call in calls if call.done()]
            assert len(refused) == excess
            for call in refused:
                assert call.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert retry_delay_s(call.trailing_metadata()) == 1
            # an ordinary unary export is refused the same way, at once, while they hold
            with pytest.raises(grpc.RpcError) as info:
                channel.unary_unary(EXPORT_PATH)(make_request([49_999]), timeout=30)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert retry_delay_s(info.value.trailing_metadata()) == 1
            assert rejected(sidecar, "grpc", "overloaded") == excess + 1
            admitted = [call for call in calls if not call.done()]
            assert len(admitted) == WAITING
            # an admitted client that gives up before sending is counted as unreadable
            gone = admitted.pop()
            gone.cancel()
        finally:
            release.set()
        for call in admitted:
            assert call.result(timeout=60) == b""
    accepted = {seq for seq, call in zip(seqs, calls, strict=True) if call in admitted}
    out = Path(sidecar.config["exporters"]["file"]["path"])
    assert wait_for(lambda: spans_seqs(out) == accepted)
    assert wait_for(lambda: rejected(sidecar, "grpc", "unreadable") == 1)
    metrics = sidecar.metrics()
    assert metrics['spanguard_sidecar_requests_received_total{protocol="grpc"}'] == len(accepted)
    assert rejected(sidecar, "grpc", "overloaded") == excess + 1
    assert rejected(sidecar, "grpc", "too_large") == 0


@pytest.mark.slow
def test_broken_gzip_and_bad_json_are_400(sidecar: SidecarProcess) -> None:
    response = httpx.post(
        f"{sidecar.http_url}/v1/traces",
        content=b"\x1f\x8bnot really gzip",
        headers={**PROTOBUF, "Content-Encoding": "gzip"},
    )
    assert response.status_code == 400
    response = httpx.post(
        f"{sidecar.http_url}/v1/traces",
        content=b'{"resourceSpans": [{',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == 400
    nested = "[" * 5000 + "]" * 5000
    response = httpx.post(
        f"{sidecar.http_url}/v1/traces",
        content=f'{{"resourceSpans": {nested}}}'.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400


@pytest.mark.slow
def test_gzip_protobuf_and_json_bodies_are_accepted(sidecar: SidecarProcess) -> None:
    response = httpx.post(
        f"{sidecar.http_url}/v1/traces",
        content=gzip.compress(make_request([501, 502])),
        headers={**PROTOBUF, "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    otlp_json = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "from-json",
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": "1700000000000001000",
                                "attributes": [{"key": "seq", "value": {"intValue": "503"}}],
                            }
                        ]
                    }
                ]
            }
        ]
    }
    response = httpx.post(
        f"{sidecar.http_url}/v1/traces",
        content=json.dumps(otlp_json).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200
    assert response.json() == {}
    out = Path(sidecar.config["exporters"]["file"]["path"])
    assert wait_for(lambda: {501, 502, 503} <= spans_seqs(out))


@pytest.mark.slow
def test_health_ready_metrics_and_unknown_paths(sidecar: SidecarProcess) -> None:
    assert httpx.get(f"{sidecar.http_url}/healthz").status_code == 200
    assert httpx.get(f"{sidecar.http_url}/readyz").status_code == 200
    assert httpx.post(f"{sidecar.http_url}/v1/metrics", content=b"", headers=PROTOBUF).status_code == 404
    assert httpx.get(f"{sidecar.http_url}/nope").status_code == 404
    httpx.post(f"{sidecar.http_url}/v1/traces", content=b"garbage!", headers=PROTOBUF)
    metrics = sidecar.metrics()
    assert metrics['spanguard_sidecar_requests_rejected_total{protocol="http",reason="bad_protobuf"}'] >= 1
    assert "spanguard_sidecar_queue_bytes" in metrics


@pytest.mark.slow
def test_bearer_token_is_required_when_configured(tmp_path: Path, start_sidecar: Any) -> None:
    config = sidecar_config(
        tmp_path, auth={"bearer_token": TOKEN}, redaction={"enabled": False}, truncation={"enabled": False}
    )
    sidecar = start_sidecar(config)
    url = f"{sidecar.http_url}/v1/traces"
    body = make_request([1])
    assert httpx.post(url, content=body, headers=PROTOBUF).status_code == 401
    wrong = httpx.post(url, content=body, headers={**PROTOBUF, "Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert TOKEN not in wrong.text
    right = httpx.post(url, content=body, headers={**PROTOBUF, "Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200
    assert grpc_export(sidecar.grpc_address, body) == grpc.StatusCode.UNAUTHENTICATED
    assert (
        grpc_export(sidecar.grpc_address, body, metadata=(("authorization", "Bearer nope"),))
        == grpc.StatusCode.UNAUTHENTICATED
    )
    assert (
        grpc_export(sidecar.grpc_address, body, metadata=(("authorization", f"Bearer {TOKEN}"),))
        == grpc.StatusCode.OK
    )
    # health stays open for probes
    assert httpx.get(f"{sidecar.http_url}/healthz").status_code == 200
    assert TOKEN not in sidecar.stderr_text()


@pytest.mark.slow
def test_a_taken_port_is_a_one_line_error(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    import yaml

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = sidecar_config(tmp_path, http={"endpoint": f"127.0.0.1:{port}"})
        path = tmp_path / "spanguard.yaml"
        path.write_text(yaml.safe_dump(config))
        result = subprocess.run(
            [sys.executable, "-m", "spanguard", "sidecar", "--config", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"sidecar.http.endpoint: cannot use 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
