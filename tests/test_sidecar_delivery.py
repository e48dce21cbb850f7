"""Delivery with several sends in flight per exporter, against a real OTLP/gRPC downstream:
concurrency, every span exactly once, the pause while a batch fails, an outage of one
backend next to a working file exporter."""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from support_net import later_port
from support_receiver import ParseOnlyReceiver
from support_sidecar import (
    attributes_of,
    make_request,
    read_file_spans,
    received_seqs,
    request_seqs,
    sidecar_config,
    spans_seqs,
    wait_for,
)

from spanguard.config import load_config
from spanguard.config.model import FileExporterConfig
from spanguard.exporters.endpoints import otlp_target
from spanguard.exporters.senders import OtlpGrpcSender
from spanguard.sidecar import envelope
from spanguard.sidecar.delivery import DeliveryWorker
from spanguard.sidecar.forwarders import FileForwarder, build_forwarders
from spanguard.sidecar.metrics import SidecarMetrics
from spanguard.sidecar.queue_layout import Position, streams_root, write_cursor
from spanguard.sidecar.queue_reader import ExporterReader
from spanguard.sidecar.queue_writer import QueueWriter
from spanguard.sidecar.server import Delivery

SPANS_PER_REQUEST = 10
FIRST_SEQ = 1000  # seqs of one width, so every queued request has the same size


def _fill_queue(directory: Path, requests: int) -> tuple[list[int], int]:
    """Queue `requests` requests of equal size; returns every seq, in order, and the size
    of one queue record."""
    seqs = list(range(FIRST_SEQ, FIRST_SEQ + requests * SPANS_PER_REQUEST))
    records = [
        envelope.pack(SPANS_PER_REQUEST, make_request(seqs[start : start + SPANS_PER_REQUEST]))
        for start in range(0, len(seqs), SPANS_PER_REQUEST)
    ]
    assert len({len(record) for record in records}) == 1
    writer = QueueWriter(directory, "w0", max_bytes=100_000_000)
    try:
        for record in records:
            writer.append(record)
    finally:
        writer.close()
    return seqs, len(records[0])


def _one_request_per_batch(forwarder: OtlpGrpcSender, record_bytes: int) -> OtlpGrpcSender:
    """Batches are cut at the forwarder's request limit; at one record's size, a dozen
    queued requests make a dozen batches instead of one."""
    forwarder.max_request_bytes = record_bytes
    return forwarder


def _grpc_forwarder(address: str, record_bytes: int) -> OtlpGrpcSender:
    forwarder = OtlpGrpcSender("otlp", otlp_target("grpc", address), "none", timeout_s=10)
    return _one_request_per_batch(forwarder, record_bytes)


@contextlib.contextmanager
def _running(worker: DeliveryWorker, receiver: ParseOnlyReceiver) -> Iterator[None]:
    worker.start()
    try:
        yield
    finally:
        worker.stop()
        assert worker.join(10)
        worker.forwarder.close()
        receiver.stop()


def _failures(metrics: SidecarMetrics, exporter: str = "otlp") -> float:
    value = metrics.registry.get_sample_value(
        "spanguard_sidecar_export_failures_total", {"exporter": exporter}
    )
    return value or 0.0


def test_four_consumers_have_four_sends_in_flight_and_deliver_every_span_once(tmp_path: Path) -> None:
    seqs, record_bytes = _fill_queue(tmp_path, requests=12)
    four_inside = threading.Barrier(4, timeout=20)
    calls = itertools.count()

    def hold_until_four_are_inside(body: bytes, context: grpc.ServicerContext) -> None:
        if next(calls) < 4:
            four_inside.wait()  # passes only once four sends are in the handler at the same time

    receiver = ParseOnlyReceiver(keep=True, threads=8, on_request=hold_until_four_are_inside)
    worker = DeliveryWorker(
        _grpc_forwarder(receiver.address, record_bytes), tmp_path, SidecarMetrics(), num_consumers=4
    )
    with _running(worker, receiver):
        assert wait_for(lambda: len(received_seqs(receiver)) >= len(seqs))
        assert not four_inside.broken
        assert sorted(received_seqs(receiver)) == seqs  # every span, none twice
        assert wait_for(lambda: worker.reader.in_flight == 0)
        assert ExporterReader(tmp_path, "otlp").read(1 << 20) is None  # all committed


def test_one_consumer_reads_the_next_batch_only_after_committing_the_last(tmp_path: Path) -> None:
    seqs, record_bytes = _fill_queue(tmp_path, requests=6)
    workers: list[DeliveryWorker] = []
    in_flight_seen: list[int] = []

    def note_batches_in_flight(body: bytes, context: grpc.ServicerContext) -> None:
        in_flight_seen.append(workers[0].reader.in_flight)

    receiver = ParseOnlyReceiver(keep=True, threads=8, on_request=note_batches_in_flight)
    workers.append(
        DeliveryWorker(
            _grpc_forwarder(receiver.address, record_bytes), tmp_path, SidecarMetrics(), num_consumers=1
        )
    )
    with _running(workers[0], receiver):
        assert wait_for(lambda: len(received_seqs(receiver)) >= len(seqs))
        assert received_seqs(receiver) == seqs  # in queue order
        assert in_flight_seen == [1] * 6


def test_file_exporter_writes_one_request_at_a_time_whatever_num_consumers(tmp_path: Path) -> None:
    seqs, _ = _fill_queue(tmp_path / "queue", requests=6)
    out = tmp_path / "out.jsonl"
    worker = DeliveryWorker(
        FileForwarder(FileExporterConfig(path=str(out))),
        tmp_path / "queue",
        SidecarMetrics(),
        num_consumers=8,
    )
    assert worker.consumers == 1  # the file forwarder says it cannot take concurrent sends
    worker.start()
    try:
        assert wait_for(lambda: spans_seqs(out) == set(seqs))
        assert [attributes_of(span)["seq"] for span in read_file_spans(out)] == seqs
    finally:
        worker.stop()
        assert worker.join(10)
        worker.forwarder.close()


def test_a_failing_batch_stops_new_reads_until_it_goes_through(tmp_path: Path) -> None:
    seqs, record_bytes = _fill_queue(tmp_path, requests=24)
    refusals = itertools.count(1)
    refused_thrice = threading.Event()
    recovered = threading.Event()

    def refuse_the_first_request_until_recovered(body: bytes, context: grpc.ServicerContext) -> None:
        if FIRST_SEQ not in request_seqs(body):
            refused_thrice.wait(timeout=20)  # the others stay in flight until the pause has begun
        elif not recovered.is_set():
            if next(refusals) >= 3:
                refused_thrice.set()
            context.abort(grpc.StatusCode.UNAVAILABLE, "busy")

    receiver = ParseOnlyReceiver(keep=True, threads=8, on_request=refuse_the_first_request_until_recovered)
    metrics = SidecarMetrics()
    worker = DeliveryWorker(
        _grpc_forwarder(receiver.address, record_bytes),
        tmp_path,
        metrics,
        num_consumers=4,
        backoff_initial_s=0.02,
        backoff_max_s=0.05,
    )
    with _running(worker, receiver):
        assert wait_for(lambda: _failures(metrics) >= 10)  # the first batch, retried again and again
        assert refused_thrice.is_set()
        # meanwhile only the (at most three) batches already in flight went through
        assert receiver.request_count <= 3
        assert worker.reader.in_flight <= 4
        recovered.set()
        assert wait_for(lambda: len(received_seqs(receiver)) >= len(seqs))
        assert sorted(received_seqs(receiver)) == seqs


class _Messages(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def exporter_warnings() -> Iterator[list[str]]:
    """Outage warnings, collected on their own logger (the sidecar's logging setup may stop
    them from reaching the root logger, where caplog listens)."""
    handler = _Messages()
    logger = logging.getLogger("spanguard.exporters")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def test_a_dead_backend_with_four_consumers_loses_nothing_and_the_file_keeps_going(
    tmp_path: Path, exporter_warnings: list[str]
) -> None:
    port = later_port()
    out = tmp_path / "out.jsonl"
    exporters = {
        "file": {"path": str(out)},
        "otlp": {
            "endpoint": f"http://127.0.0.1:{port}",
            "protocol": "grpc",
            "timeout_s": 2,
            "compression": "none",
        },
    }
    delivery_config = {"num_consumers": 4, "retry": {"initial_interval_s": 0.01, "max_interval_s": 0.2}}
    config = load_config(sidecar_config(tmp_path, exporters=exporters, delivery=delivery_config))
    queue_dir = Path(config.sidecar.queue.directory)
    # both exporters were configured before this was queued (the sidecar starts a new one at the end)
    stream = streams_root(queue_dir) / "w0"
    stream.mkdir(parents=True)
    for name in ("file", "otlp"):
        write_cursor(stream, name, Position(-1, 0))
    seqs, record_bytes = _fill_queue(queue_dir, requests=12)
    forwarders = build_forwarders(config.exporters)
    for forwarder in forwarders:
        if isinstance(forwarder, OtlpGrpcSender):
            _one_request_per_batch(forwarder, record_bytes)
    metrics = SidecarMetrics()
    delivery = Delivery(config, metrics, forwarders)
    try:
        otlp = next(worker for worker in delivery.workers if worker.forwarder.name == "otlp")
        assert otlp.consumers == 4
        assert wait_for(lambda: spans_seqs(out) == set(seqs))  # not held back by the dead backend
        assert wait_for(lambda: _failures(metrics) >= 8)
        assert 1 <= otlp.reader.in_flight <= 4  # retried in place, no fresh batches piled on
        receiver = ParseOnlyReceiver(port=port, keep=True, threads=8)
        try:
            assert wait_for(lambda: set(received_seqs(receiver)) == set(seqs))
        finally:
            receiver.stop()
    finally:
        delivery.stop(5)
    assert sum("cannot export" in message for message in exporter_warnings) == 1
    assert sum("recovered" in message for message in exporter_warnings) == 1


def test_a_grpc_permanent_refusal_gives_the_batch_up_and_resource_exhausted_is_retried_only_with_retry_info(
    tmp_path: Path,
) -> None:
    from spanguard.sidecar.dead_letter import DeadLetterFile
    from spanguard.sidecar.grpc_receiver import _retry_info_trailer

    seqs, record_bytes = _fill_queue(tmp_path / "queue", requests=4)
    poisoned, hinted, bare = FIRST_SEQ, FIRST_SEQ + SPANS_PER_REQUEST, FIRST_SEQ + 2 * SPANS_PER_REQUEST
    hinted_refusals = itertools.count(1)

    def refuse(body: bytes, context: grpc.ServicerContext) -> None:
        got = request_seqs(body)
        if poisoned in got:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad")
        if hinted in got and next(hinted_refusals) <= 2:  # overloaded, says when to come back
            context.set_trailing_metadata(_retry_info_trailer(grpc.StatusCode.RESOURCE_EXHAUSTED, "busy", 0))
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "busy")
        if bare in got:  # RESOURCE_EXHAUSTED without RetryInfo: permanent by the spec
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too big")

    receiver = ParseOnlyReceiver(keep=True, on_request=refuse)
    metrics = SidecarMetrics()
    dead = DeadLetterFile(tmp_path / "dead", "otlp", max_bytes=0, backups=0)
    worker = DeliveryWorker(
        _grpc_forwarder(receiver.address, record_bytes),
        tmp_path / "queue",
        metrics,
        backoff_initial_s=0.01,
        backoff_max_s=0.02,
        max_elapsed_time_s=60,
        dead_letter=dead,
    )
    with _running(worker, receiver):
        last = seqs[-SPANS_PER_REQUEST:]
        assert wait_for(lambda: set(last) <= set(received_seqs(receiver)))
        assert wait_for(lambda: worker.idle.is_set())
    dead.close()
    delivered = set(received_seqs(receiver))
    assert set(range(hinted, hinted + SPANS_PER_REQUEST)) <= delivered  # retried, then accepted
    assert not delivered & set(range(poisoned, poisoned + SPANS_PER_REQUEST))
    assert not delivered & set(range(bare, bare + SPANS_PER_REQUEST))
    given_up = {"exporter": "otlp"}
    assert metrics.registry.get_sample_value("spanguard_sidecar_batches_failed_total", given_up) == 2
    assert _failures(metrics) == 2  # only the two hinted refusals were retried
    assert spans_seqs(tmp_path / "dead" / "otlp.jsonl") == (
        set(range(poisoned, poisoned + SPANS_PER_REQUEST)) | set(range(bare, bare + SPANS_PER_REQUEST))
    )
