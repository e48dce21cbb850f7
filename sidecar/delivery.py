"""Delivery: per exporter, one reading thread and a few sending threads.

A backend that is down holds back only its own cursor; the others keep going. Up to
`num_consumers` batches of one exporter are in flight at once (as the Collector's
`sending_queue.num_consumers`): with one, every batch would wait out the backend's
parse-and-answer round trip before the next could leave. Batches are read in order and
may finish in any order; the reader commits only the finished prefix of each stream, so
a crash re-sends at most what was in flight (at-least-once: duplicates, never a loss).

Sends follow the OTLP specification through the one retry policy (`exporters/retry.py`):
only retryable answers (HTTP 429/502/503/504, gRPC UNAVAILABLE, RESOURCE_EXHAUSTED with
RetryInfo, no answer) are retried, with capped exponential backoff and at least the
backend's Retry-After / RetryInfo; the outage is logged once when it starts and once when
it ends. While any batch is failing no new batch is read, so a dead backend sees the
batches already in flight retried, not `num_consumers` fresh ones every round.

A batch refused permanently (HTTP 400, gRPC INVALID_ARGUMENT, ...) or still failing after
the exporter's `retry_on_failure.max_elapsed_time_s` is given up, as the Collector does:
counted, logged once (exporter, span count, reason; never content), written to the
dead-letter file if one is configured, and committed, so delivery moves on to the rest.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from pathlib import Path

from spanguard.exporters.outage import EXPORT_THREAD_PREFIX, OutageReporter
from spanguard.exporters.retry import Outcome, RetryOn, RetryPolicy, SendResult, send_with_retry
from spanguard.exporters.splitting import split_request
from spanguard.sidecar import envelope
from spanguard.sidecar.allocator import keep_large_buffers_on_heap
from spanguard.sidecar.dead_letter import DeadLetterFile
from spanguard.sidecar.forwarders import Forwarder
from spanguard.sidecar.metrics import SidecarMetrics
from spanguard.sidecar.queue_layout import scan_bytes
from spanguard.sidecar.queue_reader import Batch, ExporterReader, delete_consumed_segments
from spanguard.sidecar.supervise import LoopGuard

log = logging.getLogger("spanguard.sidecar")

IDLE_POLL_S = 0.02
REFRESH_STREAMS_S = 1.0


class DeliveryWorker:
    """One exporter: a thread reads batches in order and hands them to sending threads."""

    def __init__(
        self,
        forwarder: Forwarder,
        directory: Path,
        metrics: SidecarMetrics,
        *,
        num_consumers: int = 1,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 5.0,
        max_elapsed_time_s: float | None = None,
        retry_enabled: bool = True,
        dead_letter: DeadLetterFile | None = None,
        new_starts_at_end: bool = False,
    ) -> None:
        keep_large_buffers_on_heap()  # batches are MBs: reuse heap, not fresh mmaps
        self.forwarder = forwarder
        # the sidecar starts a new exporter at the end of the queue: what is there was meant for others
        self.reader = ExporterReader(directory, forwarder.name, new_starts_at_end=new_starts_at_end)
        # A file or the console takes one write at a time, whatever the config says.
        self.consumers = num_consumers if forwarder.concurrent_sends else 1
        self._metrics = metrics
        # the spec's retryable answers, doubling up to the cap, until `max_elapsed_time_s`
        # (None: while running, for the local writers, whose only failure is a full disk)
        self._retry = RetryPolicy(
            enabled=retry_enabled,
            initial_interval_s=backoff_initial_s,
            max_interval_s=backoff_max_s,
            max_elapsed_time_s=max_elapsed_time_s,
            multiplier=2.0,
            randomization_factor=0.0,
            retry_on=RetryOn.SPEC,
        )
        self._dead_letter = dead_letter
        self._outage = OutageReporter(forwarder.name)
        self._stop = threading.Event()  # give up now, leave the rest on disk
        self._drain_deadline: float | None = None  # finish what is queued, until then
        self.idle = threading.Event()
        self._state = threading.Condition()  # guards the two counts below
        self._in_flight = 0  # batches handed out and not yet committed
        # ... and their bytes: batches are cut at the request limit, but one queued request
        # larger than that is read whole; `consumers` such requests in flight at once would
        # hold several times the memory the limit suggests, so bytes are bounded too
        self._in_flight_bytes = 0  # at most `consumers` x the request limit, or one batch
        self._retrying = 0  # of those, how many failed and wait to be retried
        self._work: queue.SimpleQueue[Batch | None] = queue.SimpleQueue()
        thread_name = f"{EXPORT_THREAD_PREFIX}{forwarder.name}"
        self._reader_thread = threading.Thread(target=self._read_loop, name=thread_name, daemon=True)
        self._senders = [
            threading.Thread(target=self._send_loop, name=f"{thread_name}-{index}", daemon=True)
            for index in range(self.consumers)
        ]

    def start(self) -> None:
        for sender in self._senders:
            sender.start()
        self._reader_thread.start()

    # -- the reading thread ------------------------------------------------------------------

    def _read_loop(self) -> None:
        refreshed = 0.0
        guard = LoopGuard(f"delivery reader {self.forwarder.name!r}", self._metrics, self._stop)
        try:
            while self._wait_for_room():
                try:
                    now = time.monotonic()
                    if now - refreshed > REFRESH_STREAMS_S:
                        self.reader.refresh()
                        refreshed = now
                    batch = self.reader.read(self.forwarder.max_request_bytes)
                except Exception as exc:  # EMFILE, EIO, a bug: the queue keeps the data; go on
                    if not guard.failed(exc):
                        return
                    continue
                guard.ok()
                if batch is None:
                    if self._nothing_to_read():
                        return  # drained: the senders finish what they hold
                    self._stop.wait(IDLE_POLL_S)
                    continue
                self._hand_out(batch)
                batch = None  # not held while waiting for room: a sender owns it now
        finally:
            for _ in self._senders:
                self._work.put(None)

    def _wait_for_room(self) -> bool:
        """Block until a sender is free and no batch is failing; False once it is time to stop."""
        with self._state:
            while not self._stop.is_set():
                timeout = None
                if self._drain_deadline is not None:
                    timeout = self._drain_deadline - time.monotonic()
                    if timeout <= 0:
                        return False
                limit = self.forwarder.max_request_bytes
                room = self._in_flight == 0 or (
                    self._in_flight < self.consumers
                    and self._in_flight_bytes + limit <= self.consumers * limit
                )
                if room and self._retrying == 0:
                    return True
                self._state.wait(timeout)
            return False

    def _nothing_to_read(self) -> bool:
        """Marks the worker idle when nothing is in flight either; True when draining."""
        with self._state:
            if self._in_flight == 0:
                self.idle.set()
        return self._drain_deadline is not None

    def _hand_out(self, batch: Batch) -> None:
        with self._state:
            self._in_flight += 1
            self._in_flight_bytes += batch.nbytes
            self.idle.clear()
        self._work.put(batch)

    # -- the sending threads -----------------------------------------------------------------

    def _send_loop(self) -> None:
        guard = LoopGuard(f"delivery sender {self.forwarder.name!r}", self._metrics, self._stop)
        while True:
            batch = self._work.get()
            if batch is None or self._stop.is_set():
                return
            while True:  # the same batch until it is delivered: its commit holds the cursor
                try:
                    delivered = self._deliver(batch.records)
                    if delivered:
                        self.reader.commit(batch)
                except Exception as exc:
                    if not guard.failed(exc):
                        return
                    continue
                guard.ok()
                break
            if not delivered:
                return  # stopped mid-retry: the batch stays queued
            self._change_counts(in_flight=-1, in_flight_bytes=-batch.nbytes)
            del batch  # before waiting for the next: its bytes are counted free

    def _change_counts(self, *, in_flight: int = 0, in_flight_bytes: int = 0, retrying: int = 0) -> None:
        with self._state:
            self._in_flight += in_flight
            self._in_flight_bytes += in_flight_bytes
            self._retrying += retrying
            self._state.notify_all()

    def _deliver(self, records: list[bytes]) -> bool:
        """True when every part is settled (delivered or given up): the batch can be committed."""
        spans, bodies = envelope.bodies(records)
        all_accepted = True
        for part, part_spans in split_request(bodies, self.forwarder.max_request_bytes, spans):
            accepted = self._send_with_retry(part, part_spans)
            if accepted is None:
                return False
            all_accepted = all_accepted and accepted
        if all_accepted:
            self._metrics.batches_exported.labels(self.forwarder.name).inc()
        return True

    def _send_with_retry(self, body: bytes, spans: int) -> bool | None:
        """True: delivered; False: given up; None: stopped while retrying (keep it queued)."""
        failing = False
        ticket = 0

        def attempt() -> SendResult:
            nonlocal ticket
            ticket = self._outage.attempt()
            return self._send_once(body)

        def failed(result: SendResult) -> None:
            nonlocal failing
            if not failing:
                failing = True
                self._change_counts(retrying=1)  # first, so a failure on /metrics means "paused"
            self._metrics.export_failures.labels(self.forwarder.name).inc()
            self._outage.failure(result.reason, ticket)

        try:
            result = send_with_retry(attempt, self._retry, wait=self._pause, on_failure=failed)
            if result is None:
                return None
            return self._settle(result, body, spans)
        finally:
            if failing:
                self._change_counts(retrying=-1)

    def _send_once(self, body: bytes) -> SendResult:
        try:
            return self.forwarder.send(body)
        except Exception as exc:  # a bug in a forwarder must not kill delivery
            log.error("exporter %r raised %s", self.forwarder.name, type(exc).__name__)
            return SendResult(Outcome.RETRY, type(exc).__name__)

    def _settle(self, result: SendResult, body: bytes, spans: int) -> bool:
        if result.outcome is Outcome.OK:
            self._outage.success()
            self._metrics.spans_exported.labels(self.forwarder.name).inc(spans)
            return True
        self._give_up(result, body, spans)
        return False

    def _give_up(self, result: SendResult, body: bytes, spans: int) -> None:
        """One log line per batch given up; the batch to the dead-letter file, if any."""
        name = self.forwarder.name
        why = "refused permanently" if result.outcome is Outcome.REJECTED else "retries exhausted"
        self._metrics.batches_failed.labels(name).inc()
        self._metrics.spans_failed.labels(name).inc(spans)
        if self._dead_letter is None:
            log.error(
                "exporter %r gave up a batch of %d spans (%s: %s); it is dropped",
                name,
                spans,
                why,
                result.reason,
            )
        elif self._dead_letter.write(body):
            self._metrics.spans_dead_lettered.labels(name).inc(spans)
            log.error(
                "exporter %r gave up a batch of %d spans (%s: %s); it is in %s",
                name,
                spans,
                why,
                result.reason,
                self._dead_letter.path,
            )
        else:
            log.error(
                "exporter %r gave up a batch of %d spans (%s: %s); it is lost",
                name,
                spans,
                why,
                result.reason,
            )

    def _pause(self, delay: float) -> bool:
        """Wait before the next attempt; False when stopping or the drain deadline has passed."""
        wait = delay
        if self._drain_deadline is not None:
            wait = min(wait, self._drain_deadline - time.monotonic())
            if wait <= 0:
                return False
        return not self._stop.wait(wait)

    # -- control -----------------------------------------------------------------------------

    def drain(self, deadline: float) -> None:
        """Deliver what is queued until `deadline` (monotonic), then stop."""
        with self._state:
            self._drain_deadline = deadline
            self._state.notify_all()

    def join(self, timeout: float) -> bool:
        deadline = time.monotonic() + max(0.0, timeout)
        threads = [self._reader_thread, *self._senders]
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in threads)

    def stop(self) -> None:
        """Give up now: batches not yet delivered are not committed and stay on disk."""
        self._stop.set()
        with self._state:
            self._state.notify_all()


class Janitor:
    """Deletes segments every exporter has committed past and keeps the queue gauges current."""

    def __init__(
        self, directory: Path, workers: list[DeliveryWorker], metrics: SidecarMetrics, interval_s: float = 0.5
    ) -> None:
        self._directory = directory
        self._workers = workers
        self._metrics = metrics
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._torn_reported = 0
        self._corrupt_reported = 0
        self._thread = threading.Thread(target=self._run, name="queue-janitor", daemon=True)

    def start(self) -> None:
        self.tick()  # gauges exist from the first scrape on
        self._thread.start()

    def tick(self, *, writers_closed: bool = False) -> None:
        readers = [worker.reader for worker in self._workers]
        if readers:
            delete_consumed_segments(self._directory, readers, writers_closed=writers_closed)
        self._metrics.queue_bytes.set(scan_bytes(self._directory))
        torn = 0
        for worker in self._workers:
            self._metrics.queue_pending_bytes.labels(worker.forwarder.name).set(worker.reader.pending_bytes())
            torn = max(torn, worker.reader.skipped_torn)  # every exporter meets the same tear
        if torn > self._torn_reported:
            self._metrics.torn_records.inc(torn - self._torn_reported)
            log.warning(
                "skipped %d torn queue records (written before a crash, never acknowledged)",
                torn - self._torn_reported,
            )
            self._torn_reported = torn
        corrupt = max((worker.reader.skipped_corrupt for worker in self._workers), default=0)
        if corrupt > self._corrupt_reported:
            self._metrics.corrupt_records.inc(corrupt - self._corrupt_reported)
            log.error(
                "skipped %d damaged queue records (checksum wrong): they had been acknowledged and are lost",
                corrupt - self._corrupt_reported,
            )
            self._corrupt_reported = corrupt

    def _run(self) -> None:
        guard = LoopGuard("queue janitor", self._metrics, self._stop)
        while not self._stop.wait(self._interval_s):
            try:
                self.tick()
            except Exception as exc:
                guard.failed(exc)
                continue
            guard.ok()

    def stop(self, *, writers_closed: bool = False) -> None:
        self._stop.set()
        self._thread.join(5)
        with contextlib.suppress(OSError):
            self.tick(writers_closed=writers_closed)
