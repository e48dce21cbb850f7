"""Exporter-side costs, side by side (a benchmark that prints numbers, not a test).

    .venv/bin/python benchmarks/exporter_overhead.py [--spans 20000]

1. App-thread cost per span of the SDK's BatchSpanProcessor vs spanguard's fan-out
   (one and three exporters), both feeding in-memory exporters: what `on_end` costs
   the app, measured around span creation and end.
2. Background cost per span of the file exporter (SDK OTLP encoding + OTLP JSON line +
   one write), for the reference LLM span (19 x 200-char attributes + 8 KB prompt).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanguard.config.model import BatchConfig
from spanguard.exporters.fanout import FanOutSpanProcessor
from spanguard.exporters.file_exporter import OtlpJsonFileSpanExporter

ATTRIBUTES = {f"llm.attr.{i}": ("The quick brown fox jumps over the lazy dog. " * 5)[:200] for i in range(19)}
PROMPT = ("Please summarise the following customer conversation in two lines. " * 130)[:8192]


def app_thread_us_per_span(processor: SpanProcessor, spans: int) -> float:
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("bench")
    started = time.perf_counter()
    for _ in range(spans):
        with tracer.start_as_current_span("llm") as span:
            span.set_attributes(ATTRIBUTES)
            span.set_attribute("input.value", PROMPT)
    elapsed = time.perf_counter() - started
    provider.shutdown()
    return elapsed / spans * 1e6


def reference_spans(count: int) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(memory, max_queue_size=count + 1))
    tracer = provider.get_tracer("bench")
    for _ in range(count):
        with tracer.start_as_current_span("llm") as span:
            span.set_attributes(ATTRIBUTES)
            span.set_attribute("input.value", PROMPT)
    provider.shutdown()
    return list(memory.get_finished_spans())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=20_000)
    args = parser.parse_args()
    queue = BatchConfig(max_queue_size=args.spans + 1)
    plain = app_thread_us_per_span(
        BatchSpanProcessor(InMemorySpanExporter(), max_queue_size=args.spans + 1), args.spans
    )
    one = app_thread_us_per_span(FanOutSpanProcessor({"m": InMemorySpanExporter()}, queue), args.spans)
    three = app_thread_us_per_span(
        FanOutSpanProcessor({f"m{i}": InMemorySpanExporter() for i in range(3)}, queue), args.spans
    )
    print(f"app thread, us/span (create + 20 attributes + end), {args.spans} spans:")
    print(f"  BatchSpanProcessor            {plain:7.1f}")
    print(f"  spanguard fan-out, 1 exporter {one:7.1f}   ({one / plain:.2f}x)")
    print(f"  spanguard fan-out, 3 exporters{three:7.1f}   ({three / plain:.2f}x)")

    spans = reference_spans(2048)
    with tempfile.TemporaryDirectory() as folder:
        exporter = OtlpJsonFileSpanExporter(Path(folder) / "spans.jsonl", max_bytes=0, backups=0)
        started = time.perf_counter()
        for start in range(0, len(spans), 512):
            exporter.export(spans[start : start + 512])
        elapsed = time.perf_counter() - started
        size = exporter.file.size
        exporter.shutdown()
    print(
        f"file exporter (background), batches of 512: {elapsed / len(spans) * 1e6:.1f} us/span, "
        f"{size / len(spans) / 1024:.1f} KiB/span on disk"
    )


if __name__ == "__main__":
    main()
