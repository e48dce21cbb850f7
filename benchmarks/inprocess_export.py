"""The whole in-process export path, next to `phoenix.otel.register(batch=True)`.

A benchmark that prints numbers, not a test. What a Phoenix user compares: spans made
on the app thread, redacted and truncated (spanguard) or not (register), batched,
encoded, compressed (spanguard's default, gzip) or not (register, and spanguard with
`compression: none`), and POSTed to an OTLP/HTTP endpoint. The endpoint is a receiver in
its own process that inflates, parses and counts spans, so "delivered" is what arrived,
and the CPU it spends is not counted against the exporters.

Per round and variant: `--spans` reference LLM spans (19 x 200-char attributes + an
8 KB prompt, one prompt in four with an e-mail and a phone number) are made as fast as
the loop can, then `force_flush`; the cost is this process's CPU time (every thread:
the batch workers' encoding, compression and sends count) from the first span to the
flush, per span. Variants run interleaved, rounds repeated; medians, and the ratio is
the median of per-round ratios to register. Then one burst of `--burst` spans per
variant with the default batch settings: how many arrived and how many were dropped.

    .venv/bin/python benchmarks/inprocess_export.py [--spans 2000] [--rounds 5] [--burst 4000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.synchronize
import statistics
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from processor_overhead import make_spans

TRACES = "/v1/traces"


# ---- the receiver (its own process) -----------------------------------------------------


def receiver_main(
    port: Any, spans: Any, ready: multiprocessing.synchronize.Event, stop: multiprocessing.synchronize.Event
) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if (self.headers.get("Content-Encoding") or "").lower() == "gzip":
                body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
            request = ExportTraceServiceRequest.FromString(body)
            count = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
            with spans.get_lock():
                spans.value += count
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port.value = server.server_address[1]
    import threading

    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    ready.set()
    stop.wait()
    server.shutdown()
    server.server_close()


# ---- the variants -------------------------------------------------------------------------


def register_provider(url: str) -> Any:
    from phoenix.otel import register

    return register(
        endpoint=f"{url}{TRACES}",
        protocol="http/protobuf",
        batch=True,
        project_name="bench",
        set_global_tracer_provider=False,
        verbose=False,
    )


def spanguard_provider(url: str, compression: str) -> Any:
    from opentelemetry.sdk.trace import TracerProvider

    import spanguard
    from spanguard.config.model import SpanguardConfig

    config = SpanguardConfig.model_validate(
        {"exporters": {"phoenix": {"endpoint": url, "project": "bench", "compression": compression}}}
    )
    provider = TracerProvider()
    provider.add_span_processor(spanguard.build_span_processor(config))
    return provider


def fanout_dropped(provider: Any) -> int | None:
    """Spans spanguard's fan-out dropped (None for register: the SDK does not count them)."""
    from spanguard.processors.span_processors import SpanguardSpanProcessor

    for processor in provider._active_span_processor._span_processors:
        if isinstance(processor, SpanguardSpanProcessor):
            return sum(stats.dropped for stats in processor.stats.exporters.values())
    return None


def run_once(make: Callable[[], Any], spans: list[dict[str, str]], received: Any) -> dict[str, Any]:
    provider = make()
    tracer = provider.get_tracer("benchmark")
    before = received.value
    start_cpu, start = time.process_time(), time.perf_counter()
    for attributes in spans:
        span = tracer.start_span("llm.call")
        span.set_attributes(attributes)
        span.end()
    provider.force_flush(120_000)
    cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start
    dropped = fanout_dropped(provider)
    provider.shutdown()
    deadline = time.monotonic() + 5
    while received.value - before < len(spans) and time.monotonic() < deadline:
        time.sleep(0.02)
    return {
        "cpu_us": cpu / len(spans) * 1e6,
        "wall_us": wall / len(spans) * 1e6,
        "delivered": received.value - before,
        "dropped": dropped,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=2000, help="spans per round and variant")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--burst", type=int, default=4000, help="spans in the burst line (0: skip)")
    args = parser.parse_args(argv)

    context = multiprocessing.get_context("spawn")
    received, port = context.Value("q", 0), context.Value("i", 0)
    ready, stop = context.Event(), context.Event()
    receiver = context.Process(target=receiver_main, args=(port, received, ready, stop))
    receiver.start()
    ready.wait(60)
    url = f"http://127.0.0.1:{port.value}"
    try:
        import spanguard.exporters.otlp as otlp

        encoder = getattr(otlp, "ENCODER", "SDK encode_spans")
        codec = "stdlib zlib"
        try:
            from spanguard.exporters import gzip_codec

            codec = gzip_codec.BACKEND
        except ImportError:
            pass
        print(
            f"reference span: 19 x ~200-char attributes + 8 KB input.value, 1 in 4 with PII; "
            f"{args.spans} spans x {args.rounds} rounds, burst {args.burst}; gzip: {codec}; "
            f"encoder: {encoder}"
        )
        variants: dict[str, Callable[[], Any]] = {
            "phoenix.otel.register(batch=True)": lambda: register_provider(url),
            "spanguard default (gzip)": lambda: spanguard_provider(url, "gzip"),
            "spanguard compression: none": lambda: spanguard_provider(url, "none"),
        }
        spans = make_spans(args.spans, mixed=True)
        for make in variants.values():  # warm imports, RE2's DFA cache, connections
            run_once(make, spans[:200], received)
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, make in variants.items():
                results[name].append(run_once(make, spans, received))
        base = "phoenix.otel.register(batch=True)"
        print(f"\n{'variant':<36}{'CPU us/span':>12}{'wall us/span':>13}{'vs register':>12}{'delivered':>11}")
        for name, rounds in results.items():
            cpu = statistics.median(r["cpu_us"] for r in rounds)
            wall = statistics.median(r["wall_us"] for r in rounds)
            pairs = zip(rounds, results[base], strict=True)
            ratio = statistics.median(r["cpu_us"] / b["cpu_us"] for r, b in pairs)
            delivered = sum(r["delivered"] for r in rounds)
            print(
                f"{name:<36}{cpu:>12.1f}{wall:>13.1f}{ratio:>11.2f}x{delivered:>6}/{args.spans * args.rounds}"
            )
        print("target: spanguard default <= 1.00x register, every span delivered")
        if args.burst:
            burst = make_spans(args.burst, mixed=True, seed=11)
            print(f"\nburst of {args.burst} spans, default batch settings:")
            for name, make in variants.items():
                result = run_once(make, burst, received)
                dropped = "-" if result["dropped"] is None else str(result["dropped"])
                print(
                    f"  {name:<36} delivered {result['delivered']:>5}/{args.burst}, dropped {dropped:>5}, "
                    f"{result['cpu_us']:.1f} CPU us/span"
                )
    finally:
        stop.set()
        receiver.join(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
