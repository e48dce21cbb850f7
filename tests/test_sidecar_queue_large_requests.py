"""Requests large next to the queue's `max_bytes`: one that fits is accepted once what is
ahead of it is delivered (the delivered active segment must not hold its space forever);
one that can never fit is refused permanently (413 / RESOURCE_EXHAUSTED without a retry
hint), not with a retry-later that would never come true."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from support_sidecar import EXPORT_PATH, make_request, sidecar_config, spans_seqs, wait_for

from spanguard.sidecar.queue_writer import QueueFull, QueueWriter, RecordTooLarge

MAX_BYTES = 1_000_000
NO_TRUNCATION = {"enabled": False}  # the requests' long values must reach the queue whole


def _export_until_accepted(address: str, body: bytes, deadline_s: float = 30) -> tuple[str, int]:
    """(final status name, refusals before it): retry RESOURCE_EXHAUSTED as an SDK would."""
    refusals = 0
    deadline = time.monotonic() + deadline_s
    with grpc.insecure_channel(address, options=[("grpc.max_send_message_length", -1)]) as channel:
        call = channel.unary_unary(EXPORT_PATH, request_serializer=None, response_deserializer=None)
        while True:
            try:
                call(body, timeout=10)
                return "OK", refusals
            except grpc.RpcError as exc:
                if exc.code() is not grpc.StatusCode.RESOURCE_EXHAUSTED or time.monotonic() > deadline:
                    return exc.code().name, refusals
                refusals += 1
                time.sleep(0.1)


def _request_of(seqs: list[int], nbytes: int) -> bytes:
    body = make_request(seqs, text="t" * (nbytes // len(seqs)))
    assert nbytes <= len(body) < nbytes * 1.1
    return body


def test_requests_of_most_of_max_bytes_are_each_accepted_in_turn(tmp_path: Path, start_sidecar: Any) -> None:
    out = tmp_path / "out.jsonl"
    config = sidecar_config(
        tmp_path,
        exporters={"file": {"path": str(out)}},
        truncation=NO_TRUNCATION,
        queue={"directory": str(tmp_path / "queue"), "max_bytes": MAX_BYTES},
    )
    sidecar = start_sidecar(config)
    sent: set[int] = set()
    for round_ in range(4):
        seqs = list(range(round_ * 100, round_ * 100 + 10))
        status, _ = _export_until_accepted(sidecar.grpc_address, _request_of(seqs, 600_000))
        assert status == "OK"  # before the fix: RESOURCE_EXHAUSTED from the second on, forever
        sent.update(seqs)
    assert wait_for(lambda: spans_seqs(out) == sent)
    assert sidecar.terminate() == 0


def test_a_request_larger_than_max_bytes_is_refused_permanently(tmp_path: Path, start_sidecar: Any) -> None:
    config = sidecar_config(
        tmp_path,
        truncation=NO_TRUNCATION,
        queue={"directory": str(tmp_path / "queue"), "max_bytes": MAX_BYTES},
    )
    sidecar = start_sidecar(config)
    body = _request_of(list(range(10)), 1_200_000)
    options = [("grpc.max_send_message_length", -1)]
    with grpc.insecure_channel(sidecar.grpc_address, options=options) as channel:
        call = channel.unary_unary(EXPORT_PATH, request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as refused:
            call(body, timeout=10)
    assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    # no RetryInfo: by the OTLP spec, a client does not retry it
    trailers = dict(refused.value.trailing_metadata() or ())
    assert "grpc-status-details-bin" not in trailers
    assert "max_bytes" in (refused.value.details() or "")
    response = httpx.post(
        f"{sidecar.http_url}/v1/traces",
        content=body,
        headers={"Content-Type": "application/x-protobuf"},
        timeout=10,
    )
    assert response.status_code == 413 and "retry-after" not in response.headers
    samples = sidecar.metrics()
    assert samples['spanguard_sidecar_requests_rejected_total{protocol="grpc",reason="too_large"}'] == 1
    assert samples['spanguard_sidecar_requests_rejected_total{protocol="http",reason="too_large"}'] == 1
    assert sidecar.terminate() == 0


def test_the_writer_refuses_a_record_over_its_capacity_and_seals_a_delivered_segment(tmp_path: Path) -> None:
    writer = QueueWriter(tmp_path, "w0", max_bytes=MAX_BYTES)
    try:
        with pytest.raises(RecordTooLarge):
            writer.append(b"x" * MAX_BYTES)
        writer.append(b"y" * 600_000)
        stream = tmp_path / "streams" / "w0"
        segments_before = len(list(stream.glob("*.seg")))
        with pytest.raises(QueueFull):
            writer.append(b"z" * 600_000)
        # the full queue seals the segment in hand, so that once delivered it can go
        assert wait_for(lambda: len(list(stream.glob("*.seg"))) == segments_before + 1)
        with pytest.raises(QueueFull):  # the new segment is empty: no further file per refusal
            writer.append(b"z" * 600_000)
        time.sleep(0.2)
        assert len(list(stream.glob("*.seg"))) == segments_before + 1
    finally:
        writer.close()
