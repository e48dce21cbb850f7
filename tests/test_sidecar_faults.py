"""Fault tests with real processes: downstream outage, SIGKILL mid-stream, a full queue."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from support_net import later_port
from support_receiver import ParseOnlyReceiver
from support_sidecar import (
    EXPORT_PATH,
    grpc_export,
    make_request,
    received_seqs,
    sidecar_config,
    spans_seqs,
    wait_for,
)

from spanguard.sidecar.ingest import MAX_RETRY_AFTER_S

NO_RULES: dict[str, Any] = {"redaction": {"enabled": False}, "truncation": {"enabled": False}}


def _dead_otlp(port: int) -> dict[str, Any]:
    """An OTLP/gRPC exporter aimed at a port nothing listens on (yet)."""
    return {"endpoint": f"http://127.0.0.1:{port}", "protocol": "grpc", "timeout_s": 1}


@pytest.mark.slow
def test_downstream_down_then_up_loses_nothing_and_does_not_stall_the_file(
    tmp_path: Path, start_sidecar: Any
) -> None:
    downstream_port = later_port()
    exporters = {
        "file": {"path": str(tmp_path / "out.jsonl")},
        "otlp": {"endpoint": f"http://127.0.0.1:{downstream_port}", "protocol": "grpc", "timeout_s": 2},
    }
    # several batches in flight retry side by side; the outage is still logged once
    delivery = {"num_consumers": 4, "retry": {"initial_interval_s": 0.05, "max_interval_s": 0.5}}
    sidecar = start_sidecar(sidecar_config(tmp_path, exporters=exporters, delivery=delivery, **NO_RULES))
    expected = set(range(200))
    for start in range(0, 200, 20):
        body = make_request(list(range(start, start + 20)), extra_attrs=100)  # 8 MB: more than one batch
        assert grpc_export(sidecar.grpc_address, body) == grpc.StatusCode.OK
    # the file exporter is not held back by the dead downstream
    assert wait_for(lambda: spans_seqs(tmp_path / "out.jsonl") == expected)
    failures = 'spanguard_sidecar_export_failures_total{exporter="otlp"}'
    pending = 'spanguard_sidecar_queue_pending_bytes{exporter="otlp"}'
    assert wait_for(lambda: sidecar.metrics().get(failures, 0) >= 2)
    assert wait_for(lambda: sidecar.metrics().get(pending, 0) > 0)
    receiver = ParseOnlyReceiver(port=downstream_port, keep=True)
    try:
        assert wait_for(lambda: set(received_seqs(receiver)) == expected, timeout_s=30)
    finally:
        receiver.stop()
    assert sidecar.metrics()['spanguard_sidecar_batches_exported_total{exporter="otlp"}'] >= 2
    # one warning for the outage and one for the recovery, not one per attempt
    log = sidecar.stderr_text()
    assert log.count("cannot export") == 1
    assert log.count("recovered") == 1
    assert sidecar.terminate() == 0


def _stream_sender(address: str, acked: set[int], stop: threading.Event, per_request: int = 50) -> None:
    seq = 0
    while not stop.is_set():
        seqs = list(range(seq, seq + per_request))
        if grpc_export(address, make_request(seqs, extra_attrs=5), timeout_s=2) == grpc.StatusCode.OK:
            acked.update(seqs)
        seq += per_request


@pytest.mark.slow
def test_sigkill_mid_stream_then_restart_delivers_every_acknowledged_span(
    tmp_path: Path, start_sidecar: Any
) -> None:
    sidecar = start_sidecar(sidecar_config(tmp_path, **NO_RULES))
    acked: set[int] = set()
    stop = threading.Event()
    senders = [
        threading.Thread(target=_stream_sender, args=(sidecar.grpc_address, acked, stop)) for _ in range(1)
    ]
    for sender in senders:
        sender.start()
    try:
        assert wait_for(lambda: len(acked) >= 2000, timeout_s=60)
        sidecar.kill()  # SIGKILL: no flush, maybe a torn record in the queue
        killed_with = set(acked)
        time.sleep(0.5)
        sidecar.start()
        assert wait_for(lambda: len(acked) >= len(killed_with) + 500, timeout_s=60)
    finally:
        stop.set()
        for sender in senders:
            sender.join(30)
    out = tmp_path / "out.jsonl"
    assert wait_for(lambda: acked <= spans_seqs(out), timeout_s=60)
    assert sidecar.terminate() == 0


@pytest.mark.slow
def test_full_queue_answers_backpressure_and_memory_stays_bounded(tmp_path: Path, start_sidecar: Any) -> None:
    downstream_port = later_port()
    exporters = {"otlp": _dead_otlp(downstream_port)}
    config = sidecar_config(
        tmp_path,
        exporters=exporters,
        queue={"directory": str(tmp_path / "q"), "max_bytes": "1MB"},
        **NO_RULES,
    )
    sidecar = start_sidecar(config)
    body = make_request(list(range(50)), extra_attrs=10)  # ~110 KB
    statuses = []
    for _ in range(15):
        statuses.append(grpc_export(sidecar.grpc_address, body))
    assert statuses[0] == grpc.StatusCode.OK
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in statuses
    accepted = statuses.count(grpc.StatusCode.OK)
    assert accepted * len(body) <= 1_000_000
    url = f"{sidecar.http_url}/v1/traces"
    response = httpx.post(url, content=body, headers={"Content-Type": "application/x-protobuf"})
    assert response.status_code == 429
    # a nearly full queue asks for a long wait (it grows with the backlog, bounded)
    assert 10 <= int(response.headers["retry-after"]) <= MAX_RETRY_AFTER_S
    assert httpx.get(f"{sidecar.http_url}/readyz").status_code == 503
    # overload: many more refused requests, memory does not grow with them
    rss_before = _rss_kb(sidecar.process.pid)
    for _ in range(60):
        httpx.post(url, content=body, headers={"Content-Type": "application/x-protobuf"})
        grpc_export(sidecar.grpc_address, body)
    rss_after = _rss_kb(sidecar.process.pid)
    assert rss_after < rss_before + 50_000  # KB
    metrics = sidecar.metrics()
    assert metrics['spanguard_sidecar_requests_rejected_total{protocol="grpc",reason="queue_full"}'] >= 60
    # the backend comes back: the queue drains and requests are accepted again
    receiver = ParseOnlyReceiver(port=downstream_port)
    try:
        assert wait_for(lambda: receiver.spans >= accepted * 50, timeout_s=30)
        assert wait_for(lambda: grpc_export(sidecar.grpc_address, body) == grpc.StatusCode.OK, timeout_s=30)
        assert httpx.get(f"{sidecar.http_url}/readyz").status_code == 200
    finally:
        receiver.stop()
    assert sidecar.terminate() == 0


def _rss_kb(pid: int | None) -> int:
    assert pid is not None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_sigterm_flushes_what_it_can_and_keeps_the_rest(tmp_path: Path, start_sidecar: Any) -> None:
    downstream_port = later_port()
    exporters = {"file": {"path": str(tmp_path / "out.jsonl")}, "otlp": _dead_otlp(downstream_port)}
    config = sidecar_config(tmp_path, exporters=exporters, shutdown_timeout_s=2, **NO_RULES)
    sidecar = start_sidecar(config)
    assert grpc_export(sidecar.grpc_address, make_request(list(range(50)))) == grpc.StatusCode.OK
    started = time.monotonic()
    assert sidecar.terminate() == 0
    assert time.monotonic() - started < 15  # bounded by shutdown_timeout_s, not by the dead backend
    assert spans_seqs(tmp_path / "out.jsonl") == set(range(50))
    # otlp never got them: they are still on disk, delivered after a restart
    receiver = ParseOnlyReceiver(port=downstream_port, keep=True)
    try:
        sidecar.start()
        assert wait_for(lambda: set(received_seqs(receiver)) == set(range(50)))
    finally:
        receiver.stop()
    assert sidecar.terminate() == 0
    assert os.path.isdir(tmp_path / "queue")


@pytest.mark.slow
def test_while_draining_on_sigterm_new_exports_get_503_and_unavailable_not_a_closed_port(
    tmp_path: Path, start_sidecar: Any
) -> None:
    downstream_port = later_port()
    exporters = {"file": {"path": str(tmp_path / "out.jsonl")}, "otlp": _dead_otlp(downstream_port)}
    sidecar = start_sidecar(sidecar_config(tmp_path, exporters=exporters, shutdown_timeout_s=4, **NO_RULES))
    assert grpc_export(sidecar.grpc_address, make_request([1])) == grpc.StatusCode.OK
    assert sidecar.process is not None
    sidecar.process.send_signal(signal.SIGTERM)  # the dead otlp backend keeps it draining
    assert wait_for(lambda: "draining" in sidecar.stderr_text() or _refused_http(sidecar) == 503, timeout_s=3)
    response = httpx.post(
        f"{sidecar.http_url}/v1/traces",
        content=make_request([2]),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=5,
    )
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    with grpc.insecure_channel(sidecar.grpc_address) as channel, pytest.raises(grpc.RpcError) as info:
        channel.unary_unary(EXPORT_PATH)(make_request([3]), timeout=5)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "shutting down" in (info.value.details() or "")
    assert sidecar.process.wait(30) == 0
    assert spans_seqs(tmp_path / "out.jsonl") == {1}


def _refused_http(sidecar: Any) -> int:
    try:
        return httpx.post(
            f"{sidecar.http_url}/v1/traces",
            content=b"",
            headers={"Content-Type": "application/x-protobuf"},
            timeout=2,
        ).status_code
    except httpx.HTTPError:
        return 0


def test_the_default_queue_is_per_user_state_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spanguard.config import load_config

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    config = load_config({"sidecar": {}})
    assert Path(config.sidecar.queue.directory) == tmp_path / "state" / "spanguard" / "queue"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config = load_config({"sidecar": {}})
    home_state = tmp_path / "home" / ".local" / "state"
    assert Path(config.sidecar.queue.directory) == home_state / "spanguard" / "queue"


@pytest.mark.slow
def test_two_configs_from_one_working_directory_forward_no_foreign_spans(
    tmp_path: Path, start_sidecar: Any
) -> None:
    """The first config (rules off) leaves its queue behind; the second, with a new
    exporter, must not forward the first one's spans to its backend."""
    state = {"XDG_STATE_HOME": str(tmp_path / "state")}
    first = sidecar_config(tmp_path, exporters={"file": {"path": str(tmp_path / "first.jsonl")}}, **NO_RULES)
    del first["sidecar"]["queue"]  # both use the default queue directory
    sidecar = start_sidecar(first, env=state)
    assert grpc_export(sidecar.grpc_address, make_request(list(range(20)))) == grpc.StatusCode.OK
    assert wait_for(lambda: spans_seqs(tmp_path / "first.jsonl") == set(range(20)))
    sidecar.kill()  # not a clean stop: its queue stays as it was
    receiver = ParseOnlyReceiver(keep=True)
    try:
        second = sidecar_config(
            tmp_path,
            exporters={
                "otlp": {"endpoint": f"http://{receiver.address}", "protocol": "grpc", "timeout_s": 2}
            },
        )
        del second["sidecar"]["queue"]
        other = start_sidecar(second, env=state)
        assert grpc_export(other.grpc_address, make_request([100, 101])) == grpc.StatusCode.OK
        assert wait_for(lambda: set(received_seqs(receiver)) == {100, 101})
        assert other.terminate() == 0
        assert set(received_seqs(receiver)) == {100, 101}
    finally:
        receiver.stop()


@pytest.mark.slow
def test_a_flipped_byte_in_a_sealed_segment_loses_only_that_request_and_counts_it(
    tmp_path: Path, start_sidecar: Any
) -> None:
    downstream_port = later_port()
    config = sidecar_config(tmp_path, exporters={"otlp": _dead_otlp(downstream_port)}, **NO_RULES)
    sidecar = start_sidecar(config)
    for start in (0, 100, 200):
        body = make_request(list(range(start, start + 10)))
        assert grpc_export(sidecar.grpc_address, body) == grpc.StatusCode.OK
    sidecar.kill()
    segment = max((tmp_path / "queue" / "streams" / "w0").glob("*.seg"), key=lambda p: p.stat().st_size)
    data = bytearray(segment.read_bytes())
    second = data.find(b"span-105")  # inside the second request's record
    assert second > 0
    data[second] ^= 0x20
    segment.write_bytes(bytes(data))
    receiver = ParseOnlyReceiver(port=downstream_port, keep=True)
    try:
        sidecar.start()  # a restart opens a newer segment: the damaged one is sealed
        expected = set(range(10)) | set(range(200, 210))
        assert wait_for(lambda: set(received_seqs(receiver)) == expected)
        assert wait_for(
            lambda: sidecar.metrics().get("spanguard_sidecar_queue_corrupt_records_skipped_total", 0) == 1
        )
        assert "acknowledged and are lost" in sidecar.stderr_text()
        assert sidecar.terminate() == 0
    finally:
        receiver.stop()
    assert set(received_seqs(receiver)) == set(range(10)) | set(range(200, 210))
