"""`workers: 2`: two receiving processes on the same ports, one queue, nothing lost."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from support_sidecar import grpc_export, make_request, sidecar_config, spans_seqs, wait_for

NO_RULES: dict[str, Any] = {"redaction": {"enabled": False}, "truncation": {"enabled": False}}


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.slow
def test_two_workers_share_ports_and_queue(tmp_path: Path, start_sidecar: Any) -> None:
    sidecar = start_sidecar(sidecar_config(tmp_path, workers=2, **NO_RULES))
    assert sidecar.process is not None
    receivers = _children(sidecar.process.pid)
    assert len(receivers) >= 2
    expected: set[int] = set()
    for batch in range(40):  # a new connection each call: the kernel spreads them over both
        seqs = list(range(batch * 10, batch * 10 + 10))
        if batch % 2:
            assert grpc_export(sidecar.grpc_address, make_request(seqs)) == grpc.StatusCode.OK
        else:
            response = httpx.post(
                f"{sidecar.http_url}/v1/traces",
                content=make_request(seqs),
                headers={"Content-Type": "application/x-protobuf", "Connection": "close"},
            )
            assert response.status_code == 200
        expected.update(seqs)
    out = tmp_path / "out.jsonl"
    assert wait_for(lambda: spans_seqs(out) == expected)
    # each receiving process wrote its own stream
    streams = [p for p in (tmp_path / "queue" / "streams").iterdir() if p.is_dir()]
    assert len(streams) == 2
    # and both received some: 40 connections do not all hash to one process
    assert all(sum(seg.stat().st_size for seg in stream.glob("*.seg")) > 0 for stream in streams)
    # metrics are summed over the processes, whichever one answers the scrape
    metrics = sidecar.metrics()
    received = sum(v for k, v in metrics.items() if k.startswith("spanguard_sidecar_spans_received_total"))
    assert received == len(expected)
    assert sidecar.terminate() == 0
    # no receiving process outlives the sidecar
    assert wait_for(lambda: not any(_alive(pid) for pid in receivers), timeout_s=10)


def _alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


@pytest.mark.slow
def test_a_dead_receiver_is_restarted_and_parent_death_stops_the_rest(
    tmp_path: Path, start_sidecar: Any
) -> None:
    metrics_dir = tmp_path / "metrics"  # the parent is SIGKILLed below and cannot clean up its own
    metrics_dir.mkdir()
    sidecar = start_sidecar(
        sidecar_config(tmp_path, workers=2, **NO_RULES), env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    )
    assert sidecar.process is not None
    receivers = [pid for pid in _children(sidecar.process.pid) if _is_receiver(pid)]
    assert len(receivers) == 2
    os.kill(receivers[0], signal.SIGKILL)
    assert wait_for(
        lambda: (
            len([p for p in _children(sidecar.process.pid) if _is_receiver(p)]) == 2
            and receivers[0] not in _children(sidecar.process.pid)
        ),
        timeout_s=30,
    )
    for batch in range(10):
        seqs = list(range(batch * 10, batch * 10 + 10))
        assert grpc_export(sidecar.grpc_address, make_request(seqs)) == grpc.StatusCode.OK
    assert wait_for(lambda: spans_seqs(tmp_path / "out.jsonl") == set(range(100)))
    survivors = [pid for pid in _children(sidecar.process.pid) if _is_receiver(pid)]
    sidecar.kill()  # SIGKILL the parent: the receivers notice and exit
    assert wait_for(lambda: not any(_alive(pid) for pid in survivors), timeout_s=15)


def _is_receiver(pid: int) -> bool:
    try:
        return b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
