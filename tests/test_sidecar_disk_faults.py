"""Real-process faults below the sidecar: the queue's filesystem fills up (a small tmpfs
mounted for the test), and the process runs out of file descriptors for a while."""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from support_net import later_port
from support_receiver import ParseOnlyReceiver
from support_sidecar import (
    grpc_export,
    make_request,
    received_seqs,
    sidecar_config,
    spans_seqs,
    wait_for,
)

NO_RULES: dict[str, Any] = {"redaction": {"enabled": False}, "truncation": {"enabled": False}}
PER_REQUEST = 50


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` at `path` for the test's duration; always unmounted."""
    if os.geteuid() != 0:
        pytest.fail("mounting a tmpfs needs root (the suite's machine runs the tests as root)")
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.slow
def test_a_full_disk_is_backpressure_then_recovers_without_restart_and_loses_nothing(
    tmp_path: Path, start_sidecar: Any
) -> None:
    downstream_port = later_port()
    with small_tmpfs(tmp_path / "disk", "6m") as disk:
        exporters = {
            "otlp": {"endpoint": f"http://127.0.0.1:{downstream_port}", "protocol": "grpc", "timeout_s": 1}
        }
        # max_bytes far above the disk: the disk fills first
        config = sidecar_config(
            tmp_path,
            exporters=exporters,
            queue={"directory": str(disk / "q"), "max_bytes": "1GB"},
            **NO_RULES,
        )
        sidecar = start_sidecar(config)
        acked: set[int] = set()
        statuses: list[grpc.StatusCode] = []
        seq = 0
        for _ in range(120):  # ~110 KB each: the 6 MB disk fills well before
            seqs = list(range(seq, seq + PER_REQUEST))
            seq += PER_REQUEST
            status = grpc_export(sidecar.grpc_address, make_request(seqs, extra_attrs=10))
            statuses.append(status)
            if status == grpc.StatusCode.OK:
                acked.update(seqs)
        assert acked and grpc.StatusCode.RESOURCE_EXHAUSTED in statuses
        assert grpc.StatusCode.INTERNAL not in statuses and grpc.StatusCode.UNKNOWN not in statuses
        response = httpx.post(
            f"{sidecar.http_url}/v1/traces",
            content=make_request([99_999]),
            headers={"Content-Type": "application/x-protobuf"},
            timeout=10,
        )
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) >= 1
        assert httpx.get(f"{sidecar.http_url}/readyz").status_code == 503
        segments = list((disk / "q").rglob("*.seg"))
        # no empty segment file per refused request: segments hold data, one may be new
        assert sum(1 for segment in segments if segment.stat().st_size == 0) <= 1
        assert len(segments) <= 12
        assert sidecar.process is not None and sidecar.process.poll() is None
        # the backend comes back: delivery frees the disk and the same process takes spans again
        receiver = ParseOnlyReceiver(port=downstream_port, keep=True)
        try:
            assert wait_for(lambda: acked <= set(received_seqs(receiver)), timeout_s=60)
            assert wait_for(lambda: httpx.get(f"{sidecar.http_url}/readyz").status_code == 200, timeout_s=30)
            after = [1_000_000 + n for n in range(PER_REQUEST)]
            status = grpc_export(sidecar.grpc_address, make_request(after, extra_attrs=10))
            assert status == grpc.StatusCode.OK
            assert wait_for(lambda: set(after) <= set(received_seqs(receiver)), timeout_s=30)
            assert sidecar.terminate() == 0
        finally:
            receiver.stop()


def _limit_open_files(pid: int, soft: int) -> None:
    """Lower or restore the soft limit only (raising a hard limit needs more than root here)."""
    subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={soft}:"], check=True)


def _open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.mark.slow
def test_running_out_of_file_descriptors_for_a_while_does_not_end_delivery(
    tmp_path: Path, start_sidecar: Any
) -> None:
    out = tmp_path / "out.jsonl"
    sidecar = start_sidecar(sidecar_config(tmp_path, **NO_RULES))
    assert sidecar.process is not None
    pid = sidecar.process.pid
    assert grpc_export(sidecar.grpc_address, make_request([0])) == grpc.StatusCode.OK
    assert wait_for(lambda: spans_seqs(out) == {0})
    # keep a stream of exports coming over one connection while the limit is down
    acked: set[int] = set()
    stop = threading.Event()

    def send() -> None:
        with grpc.insecure_channel(sidecar.grpc_address) as channel:
            call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
            n = 1
            while not stop.is_set():
                try:
                    call(make_request([n]), timeout=5)
                    acked.add(n)
                except grpc.RpcError:
                    pass
                n += 1
                time.sleep(0.02)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    assert wait_for(lambda: len(acked) >= 5)
    before = resource.prlimit(pid, resource.RLIMIT_NOFILE)[0]
    _limit_open_files(pid, _open_files(pid))  # no descriptor to spare: EMFILE everywhere
    time.sleep(3)
    _limit_open_files(pid, before)
    assert wait_for(lambda: len(acked) >= 50, timeout_s=30)  # the receivers serve again
    stop.set()
    sender.join(10)
    # every exporter loop is still running: what was acknowledged, before and after, arrives
    assert wait_for(lambda: acked | {0} <= spans_seqs(out), timeout_s=30)
    assert sidecar.process.poll() is None
    metrics = sidecar.metrics()
    assert sum(v for k, v in metrics.items() if k.startswith("spanguard_sidecar_loop_errors_total")) >= 1
    assert sidecar.terminate() == 0
