"""Fan-out: one queue and worker per exporter; a dead or slow one never hurts the others."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support_phoenix import free_port
from support_spans import finished_spans, provider_with

from spanguard.config.model import BatchConfig, PhoenixExporterConfig
from spanguard.exporters.fanout import FanOutSpanProcessor
from spanguard.exporters.file_exporter import OtlpJsonFileSpanExporter
from spanguard.exporters.otlp import build_phoenix_exporter
from spanguard.exporters.otlp_json import decode_traces_json_line

FAST_BATCH = BatchConfig(schedule_delay_ms=50, max_export_batch_size=64, max_queue_size=10_000)


class BlockingExporter(SpanExporter):
    """Hangs in export until released: a backend that stopped answering."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        self.release.wait(30)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


class FailingExporter(SpanExporter):
    def __init__(self, raise_error: bool = False) -> None:
        self.calls = 0
        self.raise_error = raise_error

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        if self.raise_error:
            raise RuntimeError("secret-looking text alice@example.com must not be logged")
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        return None


def _span_ids_in_file(path: Path) -> set[bytes]:
    ids: set[bytes] = set()
    for line in path.read_text().splitlines():
        for rs in decode_traces_json_line(line).resource_spans:
            for ss in rs.scope_spans:
                ids.update(span.span_id for span in ss.spans)
    return ids


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_dead_phoenix_endpoint_while_file_gets_every_span(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, protocol: str
) -> None:
    caplog.set_level(logging.INFO)
    dead = build_phoenix_exporter(
        PhoenixExporterConfig(endpoint=f"http://127.0.0.1:{free_port()}", protocol=protocol, timeout_s=2.0)
    )
    path = tmp_path / "spans.jsonl"
    fanout = FanOutSpanProcessor(
        {"phoenix": dead, "file": OtlpJsonFileSpanExporter(path, max_bytes=0, backups=0)},
        FAST_BATCH,
        shutdown_timeout_s=2.0,
    )
    provider = provider_with(fanout)
    tracer = provider.get_tracer("t")
    span_ids = set()
    for index in range(300):
        with tracer.start_as_current_span(f"s{index}") as span:
            span_ids.add(span.get_span_context().span_id.to_bytes(8, "big"))
    assert fanout.force_flush(timeout_millis=500) is False  # Phoenix cannot finish; the call returns
    deadline = time.monotonic() + 10
    while fanout.stats["file"].exported < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fanout.stats["file"].exported == 300
    assert _span_ids_in_file(path) == span_ids
    provider.shutdown()
    stats = fanout.stats
    assert stats["phoenix"].exported == 0
    assert stats["phoenix"].failed + stats["phoenix"].dropped == 300
    assert stats["file"].failed == stats["file"].dropped == 0
    # one warning for the whole outage; the SDK exporter's per-attempt records are muted
    outage = [r for r in caplog.records if "cannot export" in r.getMessage()]
    assert len(outage) == 1 and "'phoenix'" in outage[0].getMessage()
    assert not [r for r in caplog.records if r.name.startswith("opentelemetry.exporter")]
    assert any("'phoenix': 0 exported" in r.getMessage() for r in caplog.records)


def test_slow_exporter_does_not_delay_the_others() -> None:
    blocked = BlockingExporter()
    memory = InMemorySpanExporter()
    fanout = FanOutSpanProcessor({"stuck": blocked, "memory": memory}, FAST_BATCH, shutdown_timeout_s=0.5)
    for span in finished_spans(50):
        fanout.on_end(span)
    assert fanout.force_flush(timeout_millis=500) is False  # the stuck one cannot finish
    assert len(memory.get_finished_spans()) == 50
    assert blocked.calls == 1
    fanout.shutdown()
    assert fanout.stats["memory"].exported == 50


def test_full_queue_drops_and_counts_without_blocking_the_app() -> None:
    blocked = BlockingExporter()
    fanout = FanOutSpanProcessor(
        {"stuck": blocked},
        BatchConfig(max_queue_size=10, max_export_batch_size=5, schedule_delay_ms=10),
        shutdown_timeout_s=1.0,
    )
    spans = finished_spans(100)
    for span in spans:
        fanout.on_end(span)  # returns at once even though the exporter hangs
    time.sleep(0.1)
    stats = fanout.stats["stuck"]
    assert stats.dropped >= 100 - 10 - 5
    assert stats.queued <= 10
    blocked.release.set()
    fanout.shutdown()
    final = fanout.stats["stuck"]
    assert final.exported + final.dropped + final.failed == 100


def test_failures_are_reported_once_per_outage(caplog: pytest.LogCaptureFixture) -> None:
    failing = FailingExporter(raise_error=True)
    fanout = FanOutSpanProcessor(
        {"broken": failing},
        BatchConfig(schedule_delay_ms=10, max_export_batch_size=1),
        shutdown_timeout_s=0.5,
    )
    caplog.set_level(logging.INFO, logger="spanguard")
    for span in finished_spans(5):
        fanout.on_end(span)
    deadline = time.monotonic() + 30
    while failing.calls < 2 and time.monotonic() < deadline:  # a retry after the backoff
        time.sleep(0.05)
    fanout.shutdown()
    warnings = [r for r in caplog.records if "cannot export" in r.getMessage()]
    assert len(warnings) == 1
    assert "RuntimeError" in warnings[0].getMessage()
    assert "alice@example.com" not in caplog.text
    assert failing.calls >= 2
    stats = fanout.stats["broken"]
    assert stats.failed + stats.dropped == 5
    assert any("1 exported" in r.getMessage() or "0 exported" in r.getMessage() for r in caplog.records)


def test_recovery_is_reported_and_the_batch_retried(caplog: pytest.LogCaptureFixture) -> None:
    class FlakyExporter(InMemorySpanExporter):
        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            self.calls += 1
            if self.calls == 1:
                return SpanExportResult.FAILURE
            return super().export(spans)

    flaky = FlakyExporter()
    caplog.set_level(logging.INFO, logger="spanguard")
    fanout = FanOutSpanProcessor({"flaky": flaky}, FAST_BATCH)
    for span in finished_spans(3):
        fanout.on_end(span)
    assert fanout.force_flush(timeout_millis=5000)
    assert len(flaky.get_finished_spans()) == 3  # the failed batch was retried, not lost
    assert fanout.stats["flaky"].exported == 3
    assert any("recovered" in r.getMessage() for r in caplog.records)
    fanout.shutdown()


def test_unsampled_spans_are_not_exported() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    memory = InMemorySpanExporter()
    fanout = FanOutSpanProcessor({"memory": memory}, FAST_BATCH)
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(fanout)
    with provider.get_tracer("t").start_as_current_span("x"):
        pass
    provider.shutdown()
    assert memory.get_finished_spans() == ()


def test_oversize_span_is_cut_to_fit_and_an_impossible_one_dropped() -> None:
    class LimitedExporter(InMemorySpanExporter):
        max_request_bytes = 20_000

    limited = LimitedExporter()
    fanout = FanOutSpanProcessor({"limited": limited}, FAST_BATCH)
    huge = finished_spans(1, big="y" * 200_000)[0]
    normal = finished_spans(1, small="ok")[0]
    fanout.on_end(huge)
    fanout.on_end(normal)
    assert fanout.force_flush(timeout_millis=5000)
    assert len(limited.get_finished_spans()) == 2
    cut = [s for s in limited.get_finished_spans() if "big" in (s.attributes or {})]
    assert len(cut) == 1
    big_value = str(cut[0].attributes["big"])  # type: ignore[index]
    assert len(big_value) < 20_000 and "truncated" in big_value
    assert cut[0].context == huge.context
    assert fanout.stats["limited"].oversize_truncated == 1
    assert fanout.stats["limited"].exported == 2
    fanout.shutdown()


def test_shutdown_returns_despite_an_exporter_that_never_returns() -> None:
    """The shutdown bound: a hung backend is abandoned, its queued spans counted as dropped."""
    hung = threading.Event()

    class HungExporter(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            hung.wait()  # ignores shutdown, like a socket with no timeout
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            return None

    memory = InMemorySpanExporter()
    fanout = FanOutSpanProcessor(
        {"hung": HungExporter(), "memory": memory},
        BatchConfig(schedule_delay_ms=10, max_export_batch_size=10),
        shutdown_timeout_s=0.3,
    )
    try:
        for span in finished_spans(50):
            fanout.on_end(span)
        fanout.shutdown()  # returns: the test would hit pytest's timeout otherwise
        stats = fanout.stats
        assert len(memory.get_finished_spans()) == 50 and stats["memory"].exported == 50
        assert stats["hung"].exported == 0
        assert stats["hung"].dropped >= 40  # everything behind the stuck batch
        assert stats["hung"].queued == 0
    finally:
        hung.set()


def test_shutdown_bound_comes_from_export_timeout_capped_at_ten_seconds() -> None:
    assert FanOutSpanProcessor({}, BatchConfig(export_timeout_ms=500)).shutdown_timeout_s == 0.5
    assert FanOutSpanProcessor({}, BatchConfig(export_timeout_ms=60_000)).shutdown_timeout_s == 10.0


def test_exports_run_with_instrumentation_suppressed() -> None:
    """Under `opentelemetry-instrument`, an instrumented HTTP client inside an exporter
    would otherwise trace each export, and that span would be exported in turn, forever.
    Instrumentations check `is_instrumentation_enabled()`; on our workers it is False."""
    from opentelemetry.instrumentation.utils import is_instrumentation_enabled

    seen: list[bool] = []

    class InstrumentedClientExporter(InMemorySpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            seen.append(is_instrumentation_enabled())
            return super().export(spans)

    exporter = InstrumentedClientExporter()
    fanout = FanOutSpanProcessor({"client": exporter}, FAST_BATCH)
    assert is_instrumentation_enabled()  # the app thread is untouched
    for span in finished_spans(3):
        fanout.on_end(span)
    assert fanout.force_flush(timeout_millis=5000)
    fanout.shutdown()
    assert len(exporter.get_finished_spans()) == 3
    assert seen and not any(seen)
    assert is_instrumentation_enabled()


def test_a_forked_child_exports_its_own_spans(tmp_path: Path) -> None:
    """gunicorn --preload, multiprocessing and Celery fork after the processor exists; the
    child inherits the queues but not the worker threads, and must get workers of its own."""
    import os
    import signal

    path = tmp_path / "spans.jsonl"
    fanout = FanOutSpanProcessor(
        {"file": OtlpJsonFileSpanExporter(path, max_bytes=0, backups=0)}, FAST_BATCH, shutdown_timeout_s=2.0
    )
    spans = finished_spans(6)
    try:
        fanout.on_end(spans[0])
        assert fanout.force_flush(timeout_millis=5000)
        pid = os.fork()
        if pid == 0:  # the child never returns into pytest
            code = 1
            try:
                for span in spans[1:4]:
                    fanout.on_end(span)
                flushed = fanout.force_flush(timeout_millis=5000)
                code = 0 if flushed and fanout.stats["file"].exported == 3 else 2
            finally:
                os._exit(code)
        deadline = time.monotonic() + 30
        status = None
        while status is None and time.monotonic() < deadline:
            done, raw = os.waitpid(pid, os.WNOHANG)
            status = os.waitstatus_to_exitcode(raw) if done else None
            time.sleep(0.05)
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        assert status == 0, "the forked child could not export its spans"
        for span in spans[4:]:
            fanout.on_end(span)
        assert fanout.force_flush(timeout_millis=5000)
        assert fanout.stats["file"].exported == 3  # the parent's own: 1 before the fork, 2 after
    finally:
        fanout.shutdown()
    assert _span_ids_in_file(path) == {span.context.span_id.to_bytes(8, "big") for span in spans}


def test_default_batch_settings_absorb_a_burst_of_4000_spans() -> None:
    """Worst case for a healthy exporter: its first export is still in flight while the
    whole burst is made (the old default, 2048, dropped 1,440 of such a burst)."""
    gated = BlockingExporter()
    memory = InMemorySpanExporter()

    class GatedThenMemory(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            gated.export(spans)
            return memory.export(spans)

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    fanout = FanOutSpanProcessor({"phoenix": GatedThenMemory()}, BatchConfig())
    spans = finished_spans(4000)
    for span in spans:
        fanout.on_end(span)
    assert fanout.stats["phoenix"].dropped == 0
    gated.release.set()
    assert fanout.force_flush(30_000)
    fanout.shutdown()
    assert fanout.stats["phoenix"].exported == 4000
    assert len(memory.get_finished_spans()) == 4000
