"""Fan one processed span out to several exporters, each behind its own queue and thread.

Why not one `BatchSpanProcessor` per exporter: we need what it does not give, namely
counters per exporter (exported / failed / dropped), a retry of the same batch with
backoff while the backend is away (instead of dropping it at once), one log line per
outage, a guard against oversize spans, and a shutdown that stops *all* exporters
within one shared bound. The shape is the same (bounded queue, a worker that sends
a batch when it is full or every `schedule_delay_ms`), so the app thread only appends
to a deque and never waits on a backend: a dead or slow exporter fills its own queue
and drops its own spans, never anyone else's.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, Context, attach, set_value
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from spanguard.config.model import BatchConfig
from spanguard.exporters.outage import EXPORT_THREAD_PREFIX, OutageReporter, quiet_sdk_exporter_logs
from spanguard.exporters.oversize import fit_span
from spanguard.exporters.retry import Outcome, RetryOn, RetryPolicy, SendResult, send_with_retry
from spanguard.exporters.splitting import split_by_size

_log = logging.getLogger("spanguard.exporters")

DEFAULT_SHUTDOWN_TIMEOUT_S = 10.0
MAX_BACKOFF_S = 30.0
# Attempts per batch (the SDK OTLP exporters already retry inside each attempt).
MAX_ATTEMPTS_PER_BATCH = 3
# An SDK exporter says only SUCCESS or FAILURE: any failure is retried, 1 s then 2 s apart.
RETRY_POLICY = RetryPolicy(
    initial_interval_s=1.0,
    max_interval_s=MAX_BACKOFF_S,
    max_elapsed_time_s=None,
    multiplier=2.0,
    randomization_factor=0.0,
    max_attempts=MAX_ATTEMPTS_PER_BATCH,
    retry_on=RetryOn.ANY_FAILURE,
)


@dataclass
class ExporterStats:
    """Counts of spans per exporter. `dropped` = never sent: queue full, oversize, or
    still queued when the shutdown bound ran out. `failed` = sent but not accepted."""

    exported: int = 0
    failed: int = 0
    dropped: int = 0
    oversize_truncated: int = 0
    queued: int = 0


def request_limit_of(exporter: SpanExporter) -> int | None:
    """The backend's per-request byte limit an exporter declares, if any."""
    limit = getattr(exporter, "max_request_bytes", None)
    return limit if isinstance(limit, int) and limit > 0 else None


class _ExporterWorker:
    """One exporter's queue, thread and counters."""

    def __init__(self, name: str, exporter: SpanExporter, batch: BatchConfig) -> None:
        self.name = name
        self.exporter = exporter
        self.max_queue = batch.max_queue_size
        self.max_batch = batch.max_export_batch_size
        self.delay_s = batch.schedule_delay_ms / 1000.0
        self.request_limit = request_limit_of(exporter)
        self.stats = ExporterStats()
        self.outage = OutageReporter(name)
        self._queue: deque[ReadableSpan] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._stopping = False
        self._abandon = threading.Event()  # set when shutdown gives up waiting
        self._enqueued_total = 0
        self._done_total = 0
        self._flush_target = 0
        self._thread = self._start_thread()
        if hasattr(os, "register_at_fork"):
            # A forked child (gunicorn --preload, multiprocessing, Celery prefork) has the
            # queue but not the thread: without a new one its spans would only pile up
            # and be dropped. The SDK's batch processors do the same.
            weak_reinit = weakref.WeakMethod(self._at_fork_reinit)

            def after_in_child() -> None:
                reinit = weak_reinit()
                if reinit is not None:
                    reinit()

            os.register_at_fork(after_in_child=after_in_child)

    def _start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name=f"{EXPORT_THREAD_PREFIX}{self.name}", daemon=True)
        thread.start()
        return thread

    def _at_fork_reinit(self) -> None:
        """In a forked child: fresh lock, queue and counters, and a worker of its own.
        The parent's queued spans stay the parent's to export."""
        self._cond = threading.Condition(threading.Lock())
        self._queue.clear()
        self._enqueued_total = self._done_total = self._flush_target = 0
        self._abandon = threading.Event()
        self.stats = ExporterStats()
        self.outage = OutageReporter(self.name)
        if not self._stopping:
            self._thread = self._start_thread()

    # -- app thread ----------------------------------------------------------------------
    def enqueue(self, span: ReadableSpan) -> None:
        with self._cond:
            if self._stopping or len(self._queue) >= self.max_queue:
                self.stats.dropped += 1
                return
            self._queue.append(span)
            self._enqueued_total += 1
            if len(self._queue) >= self.max_batch:
                self._cond.notify_all()

    # -- worker thread -------------------------------------------------------------------
    def _count(self, counter: str, spans: int) -> None:
        # `dropped` is also bumped on the app thread; `+=` is not atomic across threads.
        with self._cond:
            setattr(self.stats, counter, getattr(self.stats, counter) + spans)

    def _run(self) -> None:
        # As the SDK's batch processors do: an instrumented HTTP or gRPC client (requests,
        # urllib3, grpc under `opentelemetry-instrument`) must not trace our own export
        # calls, or every export would make a span that is exported in turn, forever.
        # The worker thread's context is its own, so this is set once and never detached.
        attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        next_export = time.monotonic() + self.delay_s
        while True:
            with self._cond:
                while True:
                    ready = (
                        len(self._queue) >= self.max_batch
                        or self._stopping
                        or self._flush_target > self._done_total
                        or (self._queue and time.monotonic() >= next_export)
                    )
                    if ready:
                        break
                    timeout = max(0.0, next_export - time.monotonic()) if self._queue else self.delay_s
                    self._cond.wait(timeout)
                if not self._queue:
                    if self._stopping:
                        return
                    next_export = time.monotonic() + self.delay_s
                    continue
                batch = [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
            try:
                self._export(batch)
            except Exception as exc:  # a bug here must not kill the worker and stall the queue
                self._count("failed", len(batch))
                self.outage.failure(f"{type(exc).__name__} raised")
            finally:
                with self._cond:
                    self._done_total += len(batch)
                    self._cond.notify_all()
            next_export = time.monotonic() + self.delay_s

    def _export(self, batch: list[ReadableSpan]) -> None:
        if self.request_limit is not None:
            fitted: list[ReadableSpan] = []
            for span in batch:
                fit, cut = fit_span(span, self.request_limit)
                if fit is None:
                    self._count("dropped", 1)
                    continue
                self._count("oversize_truncated", int(cut))
                fitted.append(fit)
            chunks = list(split_by_size(fitted, self.request_limit))
        else:
            chunks = [batch]
        for chunk in chunks:
            self._export_with_retry(chunk)

    def _export_with_retry(self, chunk: list[ReadableSpan]) -> None:
        if self._abandon.is_set():
            self._count("dropped", len(chunk))
            return
        result = send_with_retry(
            lambda: self._export_once(chunk),
            RETRY_POLICY,
            wait=self._backoff,
            on_failure=lambda failed: self.outage.failure(failed.reason),
        )
        if result is not None and result.outcome is Outcome.OK:
            self._count("exported", len(chunk))
            self.outage.success()
        elif result is None and self._abandon.is_set():
            self._count("dropped", len(chunk))
        else:
            self._count("failed", len(chunk))

    def _export_once(self, chunk: list[ReadableSpan]) -> SendResult:
        try:
            if self.exporter.export(chunk) == SpanExportResult.SUCCESS:
                return SendResult(Outcome.OK)
            return SendResult(Outcome.RETRY, "export returned FAILURE")
        except Exception as exc:  # an exporter bug must not kill the worker
            # the type, never the message: it may quote data
            return SendResult(Outcome.RETRY, f"{type(exc).__name__} raised")

    def _backoff(self, delay: float) -> bool:
        """Wait before retrying the same batch; a shutdown cuts the wait short (and, once
        stopping, there is no further wait: the batch fails). False when given up."""
        if self._stopping:
            return False
        with self._cond:
            self._cond.wait_for(lambda: self._stopping, timeout=delay)
        return not self._abandon.is_set()

    # -- control -------------------------------------------------------------------------
    def request_flush(self) -> int:
        with self._cond:
            self._flush_target = max(self._flush_target, self._enqueued_total)
            self._cond.notify_all()
            return self._flush_target

    def wait_done(self, target: int, deadline: float) -> bool:
        with self._cond:
            return (
                self._cond.wait_for(
                    lambda: self._done_total >= target or not self._thread.is_alive(),
                    timeout=max(0.0, deadline - time.monotonic()),
                )
                and self._done_total >= target
            )

    def request_stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def finish(self, deadline: float) -> None:
        """Join the worker by `deadline`; then count what is left as dropped and stop the exporter."""
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            self._abandon.set()
        with self._cond:
            self.stats.dropped += len(self._queue)
            self._done_total += len(self._queue)  # keeps enqueued = done + queued for flush waiters
            self._queue.clear()
            self._cond.notify_all()
        try:
            self.exporter.shutdown()  # also aborts an SDK exporter's retry wait
        except Exception as exc:
            _log.warning("spanguard: exporter %r failed to shut down (%s)", self.name, type(exc).__name__)
        self._thread.join(0.5)

    def snapshot(self) -> ExporterStats:
        with self._cond:
            return ExporterStats(**{**asdict(self.stats), "queued": len(self._queue)})


class FanOutSpanProcessor(SpanProcessor):
    """The last link of spanguard's chain: one processed span -> every exporter."""

    def __init__(
        self,
        exporters: Mapping[str, SpanExporter],
        batch: BatchConfig | None = None,
        shutdown_timeout_s: float | None = None,
    ) -> None:
        quiet_sdk_exporter_logs()
        batch = batch or BatchConfig()
        # `export_timeout_ms` bounds the final flush, capped so a dead backend cannot
        # hold the app's exit for long.
        self.shutdown_timeout_s = (
            min(DEFAULT_SHUTDOWN_TIMEOUT_S, batch.export_timeout_ms / 1000.0)
            if shutdown_timeout_s is None
            else shutdown_timeout_s
        )
        self._workers = {name: _ExporterWorker(name, exporter, batch) for name, exporter in exporters.items()}
        self._shut_down = False

    @property
    def exporter_names(self) -> list[str]:
        return list(self._workers)

    @property
    def stats(self) -> dict[str, ExporterStats]:
        """Counters per exporter name (a snapshot)."""
        return {name: worker.snapshot() for name, worker in self._workers.items()}

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if self._shut_down or not span.context or not span.context.trace_flags.sampled:
            return
        for worker in self._workers.values():
            worker.enqueue(span)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        deadline = time.monotonic() + timeout_millis / 1000.0
        targets = {name: worker.request_flush() for name, worker in self._workers.items()}
        done = all([worker.wait_done(targets[name], deadline) for name, worker in self._workers.items()])
        exporters_ok = all(
            [
                worker.exporter.force_flush(max(0, int((deadline - time.monotonic()) * 1000)))
                for worker in self._workers.values()
            ]
        )
        return done and exporters_ok

    def shutdown(self) -> None:
        if self._shut_down:
            return
        self._shut_down = True
        deadline = time.monotonic() + self.shutdown_timeout_s
        for worker in self._workers.values():
            worker.request_stop()
        for worker in self._workers.values():
            worker.finish(deadline)
        for name, stats in self.stats.items():
            # Quiet when all went well; a warning when spans were lost, so it is seen.
            level = logging.WARNING if stats.failed or stats.dropped else logging.INFO
            _log.log(
                level,
                "spanguard: exporter %r: %d exported, %d failed, %d dropped, %d cut to fit",
                name,
                stats.exported,
                stats.failed,
                stats.dropped,
                stats.oversize_truncated,
            )
