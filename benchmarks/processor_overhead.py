"""What spanguard's in-process chain costs per span, next to a plain BatchSpanProcessor.

The reference LLM span (issue 2): 19 string attributes of about 200 characters of
English plus an 8 KB prompt in `input.value`. "clean" spans have nothing to redact;
"mixed" puts an e-mail address and a phone number into one prompt in four.

Per span we time what the application pays plus the background work: spans are
created, given their attributes and ended on this thread, then `force_flush` returns
once the last one has been exported (to an exporter that does nothing, so export cost
is not measured). Every variant runs in the same process on the same spans, rounds
interleaved. Both wall time and process CPU time (all threads, so the batch worker's
work counts) are printed: on a shared machine CPU time is the steadier of the two. The
ratio is the median of per-round ratios, each round measured back to back.

Then the same spans as 512-span OTLP requests through the sidecar's engine step
(`apply_to_request`), next to the cost of parsing the request.

    .venv/bin/python benchmarks/processor_overhead.py [--spans 2000] [--rounds 5] [--skip-otlp]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from spanguard.config.model import RedactionConfig, TruncationConfig
from spanguard.processors.engine import Engine
from spanguard.processors.otlp_adapter import apply_to_request
from spanguard.processors.redaction import Redactor
from spanguard.processors.span_processors import SpanguardSpanProcessor
from spanguard.processors.truncation import Truncator

WORDS = [
    "the",
    "model",
    "answered",
    "question",
    "about",
    "retrieval",
    "context",
    "window",
    "and",
    "latency",
    "of",
    "the",
    "agent",
    "when",
    "a",
    "user",
    "asks",
    "for",
    "help",
    "with",
    "their",
    "order",
    "shipping",
    "invoice",
    "refund",
    "policy",
    "handbook",
    "section",
    "explains",
    "how",
    "to",
    "reset",
    "settings",
    "before",
    "contacting",
    "support",
    "team",
    "during",
    "business",
    "hours",
]


class NullExporter(SpanExporter):
    """Accepts everything; counts spans so we know the flush really drained."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def english(rng: random.Random, length: int) -> str:
    words: list[str] = []
    size = 0
    while size < length:
        word = rng.choice(WORDS)
        if rng.random() < 0.03:
            word = str(rng.randint(1, 500))  # prose has numbers: the digit detectors must look
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:length]


def make_spans(count: int, mixed: bool, seed: int = 7) -> list[dict[str, str]]:
    rng = random.Random(seed)
    spans = []
    for index in range(count):
        attributes = {f"app.field_{n}": english(rng, 200) for n in range(19)}
        prompt = english(rng, 8192)
        if mixed and index % 4 == 0:
            middle = len(prompt) // 2
            prompt = (
                prompt[:middle] + " reach me at jane.doe@example.com or +1 415 555 0142 " + prompt[middle:]
            )
        attributes["input.value"] = prompt
        spans.append(attributes)
    return spans


def logfire_chain(next_processor: SpanProcessor) -> SpanProcessor | None:
    """pydantic logfire's scrubber applied the way logfire applies it, if installed."""
    try:
        from logfire._internal.scrubbing import Scrubber
        from logfire._internal.utils import span_to_dict
    except ImportError:
        return None
    scrubber = Scrubber(None)

    class LogfireScrubbing(SpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            next_processor.on_start(span, parent_context=parent_context)

        def on_end(self, span: ReadableSpan) -> None:
            span_dict = span_to_dict(span)
            scrubber.scrub_span(span_dict)
            next_processor.on_end(ReadableSpan(**span_dict))

        def shutdown(self) -> None:
            next_processor.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return next_processor.force_flush(timeout_millis)

    return LogfireScrubbing()


def spanguard_chain(next_processor: SpanProcessor) -> SpanProcessor:
    engine = Engine(Redactor(RedactionConfig()), Truncator(TruncationConfig()), truncation_fails_open=True)
    return SpanguardSpanProcessor(next_processor, engine)


def run_once(
    wrap: Callable[[SpanProcessor], SpanProcessor | None], spans: list[dict[str, str]]
) -> tuple[float, float]:
    """(wall, CPU) µs per span: create, set attributes, end, and flush through a batching
    processor. CPU time covers every thread of this process (the batch worker too) and is
    less disturbed than wall time when other processes share the cores."""
    exporter = NullExporter()
    batch = BatchSpanProcessor(
        exporter, max_queue_size=max(len(spans), 512) + 1, max_export_batch_size=512, schedule_delay_millis=50
    )
    processor = wrap(batch)
    assert processor is not None
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("benchmark")
    start = time.perf_counter()
    start_cpu = time.process_time()
    for attributes in spans:
        span = tracer.start_span("llm.call")
        span.set_attributes(attributes)
        span.end()
    provider.force_flush(120_000)
    elapsed = time.perf_counter() - start
    elapsed_cpu = time.process_time() - start_cpu
    provider.shutdown()
    if exporter.exported != len(spans):
        raise RuntimeError(f"exported {exporter.exported} of {len(spans)} spans")
    return elapsed / len(spans) * 1e6, elapsed_cpu / len(spans) * 1e6


def median_ratio(timings: dict[str, list[tuple[float, float]]], name: str, pick: int) -> float:
    """Per round, variant / plain (measured back to back), then the median: robust to
    other processes slowing a whole round down."""
    rounds = zip(timings[name], timings[PLAIN], strict=True)
    return statistics.median(variant[pick] / plain[pick] for variant, plain in rounds)


PLAIN = "BatchSpanProcessor (plain)"
OURS = "spanguard Redact -> Truncate -> Batch"
LOGFIRE = "logfire Scrubber -> Batch"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-otlp", action="store_true", help="only the SDK processor table")
    args = parser.parse_args(argv)

    variants: dict[str, Callable[[SpanProcessor], SpanProcessor | None]] = {
        PLAIN: lambda batch: batch,
        OURS: spanguard_chain,
    }
    if logfire_chain(BatchSpanProcessor(NullExporter())) is not None:
        variants[LOGFIRE] = logfire_chain
    else:
        print("(logfire not installed: its scrubber is not compared)")

    print(
        f"reference span: 19 x ~200-char attributes + 8 KB input.value; {args.spans} spans x "
        f"{args.rounds} rounds; medians; ratio = median of per-round ratios"
    )
    names = {PLAIN: "plain Batch", OURS: "spanguard chain", LOGFIRE: "logfire scrubber"}
    header = f"{'workload':<8} {'clock':<5} " + " ".join(f"{names[n]:>17}" for n in variants)
    print(header + f" {'spanguard/plain':>16}" + (f" {'logfire/plain':>14}" if LOGFIRE in variants else ""))
    for workload in ("clean", "mixed"):
        spans = make_spans(args.spans, mixed=workload == "mixed")
        timings: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        run_once(spanguard_chain, spans[:200])  # warm RE2's DFA cache and the imports
        for _ in range(args.rounds):
            for name, wrap in variants.items():
                timings[name].append(run_once(wrap, spans))
        for clock, pick in (("wall", 0), ("cpu", 1)):
            medians = {name: statistics.median(t[pick] for t in values) for name, values in timings.items()}

            cells = " ".join(f"{medians[name]:>14.1f} µs" for name in variants)
            extra = f" {median_ratio(timings, LOGFIRE, pick):>13.1f}x" if LOGFIRE in variants else ""
            print(f"{workload:<8} {clock:<5} {cells} {median_ratio(timings, OURS, pick):>15.2f}x{extra}")
    print("targets: clean <= 2.5x, mixed <= 4x")
    if not args.skip_otlp:
        otlp_adapter_numbers(args.rounds)
    return 0


def otlp_request(mixed: bool, seed: int = 7) -> bytes:
    """The same spans as one 512-span OTLP request, as the sidecar receives it. Ids are
    derived from `seed` and the span's index, so requests of different seeds differ."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    service = resource_spans.resource.attributes.add()
    service.key, service.value.string_value = "service.name", "benchmark"
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "benchmark"
    for index, attributes in enumerate(make_spans(512, mixed=mixed, seed=seed)):
        span = scope_spans.spans.add()
        span.name = "llm.call"
        span.trace_id = (seed * 100_000 + index + 1).to_bytes(16, "big")
        span.span_id = (index + 1).to_bytes(8, "big")
        span.start_time_unix_nano = 1_700_000_000_000_000_000 + index
        span.end_time_unix_nano = span.start_time_unix_nano + 1000
        for key, value in attributes.items():
            attribute = span.attributes.add()
            attribute.key, attribute.value.string_value = key, value
    return request.SerializeToString()


def otlp_adapter_numbers(rounds: int) -> None:
    """The sidecar's engine step alone: parse vs apply_to_request, CPU ms per request,
    with the request's own bytes at hand (the sidecar's path: the prefilter scans them)
    and without (each unit re-serialized for the scan, the path for OTLP JSON input)."""
    engine = Engine(Redactor(RedactionConfig()), Truncator(TruncationConfig()))
    print("\nOTLP adapter (sidecar engine step), one 512-span request, CPU ms, median of rounds")
    print(
        f"{'workload':<8} {'MB':>5} {'parse':>8} {'transform':>10} {'spans/s':>9} "
        f"{'re-serialized':>14} {'spans/s':>9}"
    )
    for workload in ("clean", "mixed"):
        data = otlp_request(mixed=workload == "mixed")
        parse_ms: list[float] = []
        timings: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(max(rounds, 3) * 2):
            for with_bytes in (True, False):
                start = time.process_time()
                request = ExportTraceServiceRequest.FromString(data)
                parsed = time.process_time()
                apply_to_request(request, engine, original=data if with_bytes else None)
                done = time.process_time()
                parse_ms.append((parsed - start) * 1e3)
                timings[with_bytes].append((done - parsed) * 1e3)
        fast, slow = statistics.median(timings[True]), statistics.median(timings[False])
        print(
            f"{workload:<8} {len(data) / 1e6:>5.1f} {statistics.median(parse_ms):>8.1f} "
            f"{fast:>10.1f} {512 / fast * 1e3:>9,.0f} {slow:>14.1f} {512 / slow * 1e3:>9,.0f}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
