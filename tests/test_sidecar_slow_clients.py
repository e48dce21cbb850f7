"""Slow and silent clients do not starve normal ones: a body has a read deadline, and only
exports that are being worked on (decoded, redacted, queued) take a slot."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from support_sidecar import EXPORT_PATH, grpc_export, make_request, sidecar_config, spans_seqs, wait_for

SLOW = 8
NO_RULES: dict[str, Any] = {"redaction": {"enabled": False}, "truncation": {"enabled": False}}


def _slow_http_body(address: str, stop: threading.Event) -> None:
    """Declares a 100 KB body and sends it one byte at a time, a byte every half second."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            b"Content-Length: 100000\r\n\r\n"
        )
        while not stop.wait(0.5):
            try:
                sock.sendall(b"\x0a")
            except OSError:
                return


def _silent(release: threading.Event) -> Iterator[bytes]:
    release.wait()
    return
    yield b""  # a generator that never yields a message while held


@pytest.mark.slow
def test_slow_http_bodies_and_silent_grpc_calls_leave_normal_clients_served(
    tmp_path: Path, start_sidecar: Any
) -> None:
    sidecar = start_sidecar(sidecar_config(tmp_path, **NO_RULES))
    stop = threading.Event()
    slow = [
        threading.Thread(target=_slow_http_body, args=(sidecar.http_address, stop), daemon=True)
        for _ in range(SLOW)
    ]
    for thread in slow:
        thread.start()
    channel = grpc.insecure_channel(sidecar.grpc_address)
    export = channel.stream_unary(EXPORT_PATH, request_serializer=None, response_deserializer=None)
    silent = [export.future(_silent(stop), timeout=120) for _ in range(SLOW)]
    try:
        wait_for(lambda: False, timeout_s=1.5)  # let every slow client get in and start dripping
        # normal exports, over both doors, while all of them hold on
        for seq in range(10):
            assert grpc_export(sidecar.grpc_address, make_request([seq])) == grpc.StatusCode.OK
            response = httpx.post(
                f"{sidecar.http_url}/v1/traces",
                content=make_request([100 + seq]),
                headers={"Content-Type": "application/x-protobuf"},
                timeout=10,
            )
            assert response.status_code == 200
        assert not any(call.done() for call in silent)
        metrics = sidecar.metrics()
        assert (
            metrics.get('spanguard_sidecar_requests_rejected_total{protocol="http",reason="overloaded"}', 0)
            == 0
        )
    finally:
        stop.set()
        for call in silent:
            call.cancel()
        channel.close()
        for thread in slow:
            thread.join(10)
    out = tmp_path / "out.jsonl"
    assert wait_for(lambda: spans_seqs(out) == set(range(10)) | set(range(100, 110)))
