"""The sidecar as a client follows the OTLP spec: a permanent refusal gives the batch up
(counted, dead-lettered, replayable) and delivery moves on; a retryable one is retried.

Real processes: the sidecar (`spanguard sidecar`), an OTLP/HTTP backend on loopback that
parses every request, raw OTLP/gRPC clients, and `spanguard replay` for the dead letters.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from support_pipeline import LoopbackHTTPServer
from support_sidecar import (
    grpc_export,
    make_request,
    request_seqs,
    sidecar_config,
    spans_seqs,
    wait_for,
)

POISON = 666  # a request holding this seq is refused with 400, every time
FLAKY = 777  # a request holding this seq gets 503 the first `flaky_refusals` times
FLAKY_REFUSALS = 3


class Backend:
    """An OTLP/HTTP backend: 400 for the poisoned request, 503 a few times for the flaky one."""

    def __init__(self, *, refuse: bool = True, flaky_refusals: int = FLAKY_REFUSALS) -> None:
        self.refuse = refuse
        self.flaky_refusals = flaky_refusals
        self.delivered: list[int] = []
        self.answers: list[int] = []
        self._flaky_refused = 0
        self._lock = threading.Lock()
        self.server = LoopbackHTTPServer(self._handle).start()

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        assert path == "/v1/traces"
        if headers.get("content-encoding") == "gzip":  # `spanguard replay` compresses
            body = gzip.decompress(body)
        seqs = request_seqs(ExportTraceServiceRequest.FromString(body))
        with self._lock:
            status = 200
            if self.refuse and POISON in seqs:
                status = 400
            elif self.refuse and FLAKY in seqs and self._flaky_refused < self.flaky_refusals:
                self._flaky_refused += 1
                status = 503
            self.answers.append(status)
            if status == 200:
                self.delivered.extend(seqs)
        if status == 503:
            return 503, "text/plain", b"busy"  # LoopbackHTTPServer sends no Retry-After: backoff
        return status, "application/x-protobuf", b"" if status == 200 else b"bad request"

    def got(self, seqs: list[int]) -> bool:
        with self._lock:
            return set(seqs) <= set(self.delivered)

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def backend() -> Iterator[Backend]:
    server = Backend()
    yield server
    server.stop()


def _config(
    tmp_path: Path, backend: Backend, *, max_elapsed_time_s: float, **delivery: Any
) -> dict[str, Any]:
    """A sidecar with one OTLP/HTTP exporter to `backend`, one consumer and quick retries
    (each request is its own batch); `delivery` adds keys such as `dead_letter`."""
    exporters = {
        "otlp": {
            "endpoint": backend.server.base_url,
            "compression": "none",
            "retry_on_failure": {"max_elapsed_time_s": max_elapsed_time_s},
        }
    }
    retry = {"initial_interval_s": 0.05, "max_interval_s": 0.2}
    return sidecar_config(
        tmp_path, exporters=exporters, delivery={"num_consumers": 1, "retry": retry, **delivery}
    )


def test_a_permanent_refusal_gives_one_batch_up_and_later_batches_are_delivered(
    tmp_path: Path, start_sidecar: object, backend: Backend
) -> None:
    dead_dir = tmp_path / "dead"
    config = _config(tmp_path, backend, max_elapsed_time_s=120, dead_letter={"directory": str(dead_dir)})
    sidecar = start_sidecar(config)  # type: ignore[operator]
    good_before = list(range(1, 11))
    poisoned = [POISON, *range(101, 110)]
    flaky = [FLAKY, *range(201, 210)]
    good_after = list(range(301, 311))

    # one request at a time, each delivered (or given up) before the next, so each is a batch
    assert grpc_export(sidecar.grpc_address, make_request(good_before)).name == "OK"
    assert wait_for(lambda: backend.got(good_before))
    assert grpc_export(sidecar.grpc_address, make_request(poisoned)).name == "OK"
    assert wait_for(lambda: 400 in backend.answers)
    assert grpc_export(sidecar.grpc_address, make_request(flaky)).name == "OK"
    assert wait_for(lambda: backend.got(flaky))  # 503 is retried until it goes through
    assert grpc_export(sidecar.grpc_address, make_request(good_after)).name == "OK"
    assert wait_for(lambda: backend.got(good_after))

    assert POISON not in backend.delivered
    assert backend.answers.count(400) == 1  # given up at once: a 400 is never retried
    assert backend.answers.count(503) == FLAKY_REFUSALS
    samples = sidecar.metrics()
    assert samples['spanguard_sidecar_batches_failed_total{exporter="otlp"}'] == 1
    assert samples['spanguard_sidecar_spans_failed_total{exporter="otlp"}'] == len(poisoned)
    assert samples['spanguard_sidecar_spans_dead_lettered_total{exporter="otlp"}'] == len(poisoned)
    assert samples['spanguard_sidecar_spans_exported_total{exporter="otlp"}'] == 30
    dead_file = dead_dir / "otlp.jsonl"
    assert spans_seqs(dead_file) == set(poisoned)
    assert sidecar.terminate() == 0
    log = sidecar.stderr_text()
    assert log.count("gave up a batch of 10 spans") == 1 and "HTTP 400" in log
    assert "input.value" not in log and "hello" not in log  # no span content in the log

    # the dead letters, replayed once the backend is fixed, arrive whole
    backend.refuse = False
    replay = subprocess.run(
        [sys.executable, "-m", "spanguard", "replay", "--endpoint", backend.server.base_url, str(dead_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert replay.returncode == 0, replay.stderr
    assert sorted(backend.delivered) == sorted(good_before + flaky + good_after + poisoned)


def test_a_batch_still_failing_after_max_elapsed_time_is_given_up_and_delivery_moves_on(
    tmp_path: Path, start_sidecar: object
) -> None:
    backend = Backend(flaky_refusals=10**9)  # the flaky request is refused (503) for good
    try:
        config = _config(tmp_path, backend, max_elapsed_time_s=1)
        sidecar = start_sidecar(config)  # type: ignore[operator]
        flaky = [FLAKY, *range(201, 210)]
        after = list(range(301, 311))
        assert grpc_export(sidecar.grpc_address, make_request(flaky)).name == "OK"
        assert wait_for(lambda: backend.answers.count(503) >= 2)
        assert grpc_export(sidecar.grpc_address, make_request(after)).name == "OK"
        assert wait_for(lambda: backend.got(after))
        assert FLAKY not in backend.delivered
        samples = sidecar.metrics()
        assert samples['spanguard_sidecar_batches_failed_total{exporter="otlp"}'] == 1
        assert samples['spanguard_sidecar_spans_failed_total{exporter="otlp"}'] == len(flaky)
        assert sidecar.terminate() == 0
        assert "retries exhausted: HTTP 503" in sidecar.stderr_text()
    finally:
        backend.stop()
