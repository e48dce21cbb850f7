"""Bad input at both doors gets the right protocol error, is counted, and harms nothing."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from spanguard.processors.protowire import encode_varint
from support_sidecar import (
    SidecarProcess,
    grpc_export,
    make_request,
    sidecar_config,
    spans_seqs,
    wait_for,
)

PROTOBUF = {"Content-Type": "application/x-protobuf"}
TOKEN = "s3cret-token-for-tests"


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    tmp_path = tmp_path_factory.mktemp("protocol")
    config = sidecar_config(tmp_path, max_request_bytes="1MB",
                            redaction={"enabled": False}, truncation={"enabled": False})
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
    response = httpx.post(f"{sidecar.http_url}/v1/traces", content=make_request([1]),
                          headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    response = httpx.post(f"{sidecar.http_url}/v1/traces", content=make_request([1]),
                          headers={**PROTOBUF, "Content-Encoding": "br"})
    assert response.status_code == 415


@pytest.mark.slow
def test_oversized_body_is_413_and_resource_exhausted(sidecar: SidecarProcess) -> None:
    big = make_request(list(range(40)), text="y" * 40_000)  # ~1.6 MB > 1MB limit
    assert len(big) > 1_000_000
    response = httpx.post(f"{sidecar.http_url}/v1/traces", content=big, headers=PROTOBUF)
    assert response.status_code == 413
    assert grpc_export(sidecar.grpc_address, big) == grpc.StatusCode.RESOURCE_EXHAUSTED
    # a gzip body that inflates past the limit is refused too, without inflating it all
    bomb = gzip.compress(b"\x00" * 20_000_000)
    response = httpx.post(f"{sidecar.http_url}/v1/traces", content=bomb,
                          headers={**PROTOBUF, "Content-Encoding": "gzip"})
    assert response.status_code == 413


@pytest.mark.slow
def test_broken_gzip_and_bad_json_are_400(sidecar: SidecarProcess) -> None:
    response = httpx.post(f"{sidecar.http_url}/v1/traces", content=b"\x1f\x8bnot really gzip",
                          headers={**PROTOBUF, "Content-Encoding": "gzip"})
    assert response.status_code == 400
    response = httpx.post(f"{sidecar.http_url}/v1/traces", content=b'{"resourceSpans": [{',
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == 400
    nested = "[" * 5000 + "]" * 5000
    response = httpx.post(f"{sidecar.http_url}/v1/traces", content=f'{{"resourceSpans": {nested}}}'.encode(),
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 400


@pytest.mark.slow
def test_gzip_protobuf_and_json_bodies_are_accepted(sidecar: SidecarProcess) -> None:
    response = httpx.post(f"{sidecar.http_url}/v1/traces", content=gzip.compress(make_request([501, 502])),
                          headers={**PROTOBUF, "Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    otlp_json = {"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "from-json",
        "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000000001000",
        "attributes": [{"key": "seq", "value": {"intValue": "503"}}],
    }]}]}]}
    response = httpx.post(f"{sidecar.http_url}/v1/traces", content=json.dumps(otlp_json).encode(),
                          headers={"Content-Type": "application/json; charset=utf-8"})
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
    config = sidecar_config(tmp_path, auth={"bearer_token": TOKEN},
                            redaction={"enabled": False}, truncation={"enabled": False})
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
    assert grpc_export(sidecar.grpc_address, body, metadata=(("authorization", "Bearer nope"),)) == \
        grpc.StatusCode.UNAUTHENTICATED
    assert grpc_export(sidecar.grpc_address, body, metadata=(("authorization", f"Bearer {TOKEN}"),)) == \
        grpc.StatusCode.OK
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
        result = subprocess.run([sys.executable, "-m", "spanguard", "sidecar", "--config", str(path)],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"sidecar.http.endpoint: cannot use 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
