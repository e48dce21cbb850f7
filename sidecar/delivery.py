"""Delivery: one thread per exporter, reading the queue at its own cursor.

A backend that is down holds back only its own cursor; the others keep going. Failed
sends are retried with capped exponential backoff, forever while running (the queue's
`max_bytes` and the clients' backpressure are what bound an outage, not a retry
count), and the outage is logged once when it starts and once when it ends. The cursor
moves only after the backend said yes, so a crash between send and commit means a
duplicate, never a loss (at-least-once).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from pathlib import Path

from spanguard.exporters.outage import OutageReporter
from spanguard.sidecar import envelope
from spanguard.sidecar.allocator import keep_large_buffers_on_heap
from spanguard.sidecar.forwarders import Forwarder, Outcome, SendResult, split_request
from spanguard.sidecar.metrics import SidecarMetrics
from spanguard.sidecar.queue_layout import scan_bytes
from spanguard.sidecar.queue_reader import ExporterReader, delete_consumed_segments

log = logging.getLogger("spanguard.sidecar")

IDLE_POLL_S = 0.02
REFRESH_STREAMS_S = 1.0


class DeliveryWorker:
    def __init__(self, forwarder: Forwarder, directory: Path, metrics: SidecarMetrics, *,
                 backoff_initial_s: float = 0.1, backoff_max_s: float = 5.0) -> None:
        keep_large_buffers_on_heap()  # batches are MBs: reuse heap, not fresh mmaps
        self.forwarder = forwarder
        self.reader = ExporterReader(directory, forwarder.name)
        self._metrics = metrics
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._outage = OutageReporter(forwarder.name)
        self._stop = threading.Event()  # give up now, leave the rest on disk
        self._drain_deadline: float | None = None  # finish what is queued, until then
        self.idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"spanguard-export-{forwarder.name}",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        refreshed = 0.0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now - refreshed > REFRESH_STREAMS_S:
                    self.reader.refresh()
                    refreshed = now
                batch = self.reader.read(self.forwarder.max_request_bytes)
                if batch is None:
                    self.idle.set()
                    if self._drain_deadline is not None:
                        return  # drained
                    self._stop.wait(IDLE_POLL_S)
                    continue
                self.idle.clear()
                if not self._deliver(batch.records):
                    return  # stopped mid-retry: the batch stays queued
                self.reader.commit(batch)
        except Exception:
            log.exception("delivery to %r stopped on an unexpected error; the queue keeps the data",
                          self.forwarder.name)

    def _deliver(self, records: list[bytes]) -> bool:
        spans, bodies = envelope.bodies(records)
        for part, part_spans in split_request(bodies, self.forwarder.max_request_bytes, spans):
            if not self._send_with_retry(part, part_spans):
                return False
        self._metrics.batches_exported.labels(self.forwarder.name).inc()
        return True

    def _send_with_retry(self, body: bytes, spans: int) -> bool:
        delay = self._backoff_initial_s
        name = self.forwarder.name
        while True:
            try:
                result = self.forwarder.send(body)
            except Exception as exc:  # a bug in a forwarder must not kill delivery
                log.error("exporter %r raised %s", name, type(exc).__name__)
                result = SendResult(Outcome.RETRY, type(exc).__name__)
            if result.outcome is Outcome.OK:
                self._outage.success()
                self._metrics.spans_exported.labels(name).inc(spans)
                return True
            if result.outcome is Outcome.REJECTED:
                log.error("exporter %r refused %d spans permanently (%s); they are skipped",
                          name, spans, result.reason)
                self._metrics.spans_failed.labels(name).inc(spans)
                return True
            self._metrics.export_failures.labels(name).inc()
            self._outage.failure(result.reason)
            wait = delay
            if self._drain_deadline is not None:
                wait = min(wait, self._drain_deadline - time.monotonic())
                if wait <= 0:
                    return False
            if self._stop.wait(wait):
                return False
            delay = min(delay * 2, self._backoff_max_s)

    def drain(self, deadline: float) -> None:
        """Deliver what is queued until `deadline` (monotonic), then stop."""
        self._drain_deadline = deadline

    def join(self, timeout: float) -> bool:
        self._thread.join(max(0.0, timeout))
        return not self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()


class Janitor:
    """Deletes segments every exporter has passed and keeps the queue gauges current."""

    def __init__(self, directory: Path, workers: list[DeliveryWorker], metrics: SidecarMetrics,
                 interval_s: float = 0.5) -> None:
        self._directory = directory
        self._workers = workers
        self._metrics = metrics
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._torn_reported = 0
        self._thread = threading.Thread(target=self._run, name="queue-janitor", daemon=True)

    def start(self) -> None:
        self.tick()  # gauges exist from the first scrape on
        self._thread.start()

    def tick(self) -> None:
        readers = [worker.reader for worker in self._workers]
        if readers:
            delete_consumed_segments(self._directory, readers)
        self._metrics.queue_bytes.set(scan_bytes(self._directory))
        torn = 0
        for worker in self._workers:
            self._metrics.queue_pending_bytes.labels(worker.forwarder.name).set(worker.reader.pending_bytes())
            torn = max(torn, worker.reader.skipped_torn)  # every exporter meets the same tear
        if torn > self._torn_reported:
            self._metrics.torn_records.inc(torn - self._torn_reported)
            log.warning("skipped %d torn queue records (written before a crash, never acknowledged)",
                        torn - self._torn_reported)
            self._torn_reported = torn

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.tick()
            except OSError as exc:
                log.warning("queue housekeeping failed: %s", exc.strerror)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        with contextlib.suppress(OSError):
            self.tick()
