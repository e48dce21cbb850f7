"""spanguard's sidecar next to the OpenTelemetry Collector's redaction processor.

Both get the same load (the sidecar benchmark's: 512 reference LLM spans a request from a
load client with several concurrent gRPC calls), on the same machine, and deliver to the
same downstream (a parse-only OTLP/gRPC receiver in its own process):

  direct      client -> receiver (the ceiling)
  sidecar     client -> spanguard sidecar (default rules, durable queue) -> receiver
  collector   client -> otelcol-spanguard (memory_limiter, redaction) -> receiver

The Collector is spanguard's own build (deploy/otelcol/collector, built and cached by
tasks.py) at the release the deploy files pin. Its redaction processor is configured as
a user would for the same protection, from its README: every key allowed, `blocked_values`
for e-mail addresses, card numbers (the README's Visa and MasterCard patterns) and API
keys (AWS access key ids, `sk-` keys), `summary: info`.

Printed: spans/s delivered, CPU ms per 1000 spans in the middle process, its peak RSS,
and, on reference spans with planted values (the load's e-mails and phone numbers plus
cards written with and without spaces and two kinds of key), what each one let through
and what it masked.

    .venv/bin/python benchmarks/collector_comparison.py [--seconds 10] [--workers 1 2] [--clients 4]
        [--collector-plumbing]
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from processor_overhead import otlp_request
from sidecar_throughput import (
    EXPORT,
    SPANS_PER_REQUEST,
    Sidecar,
    child_pids,
    downstream_receiver,
    free_port,
    measure,
    peak_rss_mb,
)

ROOT = Path(__file__).resolve().parent.parent

# What a user writes into the redaction processor for e-mails, cards and keys. The card
# patterns are the processor README's own examples.
BLOCKED_VALUES = [
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",  # e-mail
    r"4[0-9]{12}(?:[0-9]{3})?",  # Visa (README)
    r"(5[1-5][0-9]{14})",  # MasterCard (README)
    r"AKIA[0-9A-Z]{16}",  # AWS access key id
    r"sk-[A-Za-z0-9_-]{20,}",  # OpenAI-style API key
]

# Planted on the reference spans: kind -> values. The load's own spans carry the e-mail
# and the phone number (processor_overhead.make_spans); the rest is added here.
PLANTED = {
    "e-mail": ["jane.doe@example.com"],
    "phone": ["+1 415 555 0142"],
    "card, digits only": ["4111111111111111", "5500000000000004"],
    "card, with spaces": ["4111 1111 1111 1111", "5500 0000 0000 0004"],
    "AWS key id": ["AKIAIOSFODNN7EXAMPLQ"],
    "sk- API key": ["sk-proj-4f9Qx2LmT7bZr8NwYc3VhK1s"],
}


def otelcol_binary() -> Path:
    spec = importlib.util.spec_from_file_location("spanguard_tasks", ROOT / "tasks.py")
    assert spec is not None and spec.loader is not None
    tasks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tasks)
    return Path(tasks.ensure_go_build("otelcol-spanguard"))


class Collector:
    """otelcol-spanguard with the redaction processor, shaped like sidecar_throughput.Sidecar
    (process, sample_rss, peak_mb, stop) so run_phase measures it the same way."""

    def __init__(self, workdir: Path, downstream: str, redaction: bool = True) -> None:
        self.grpc_address = f"127.0.0.1:{free_port()}"
        health = f"127.0.0.1:{free_port()}"
        config: dict[str, Any] = {
            "extensions": {"health_check": {"endpoint": health}},
            "receivers": {
                "otlp": {"protocols": {"grpc": {"endpoint": self.grpc_address, "max_recv_msg_size_mib": 64}}}
            },
            "processors": {
                "memory_limiter": {
                    "check_interval": "1s",
                    "limit_percentage": 80,
                    "spike_limit_percentage": 20,
                },
                "redaction": {"allow_all_keys": True, "blocked_values": BLOCKED_VALUES, "summary": "info"},
            },
            "exporters": {"otlp": {"endpoint": downstream, "tls": {"insecure": True}, "compression": "none"}},
            "service": {
                "extensions": ["health_check"],
                "pipelines": {
                    "traces": {
                        "receivers": ["otlp"],
                        "processors": ["memory_limiter", "redaction"],
                        "exporters": ["otlp"],
                    }
                },
                "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "warn"}},
            },
        }
        if not redaction:
            config["service"]["pipelines"]["traces"]["processors"] = ["memory_limiter"]
        path = workdir / "otelcol.yaml"
        path.write_text(yaml.safe_dump(config))
        self.process = subprocess.Popen(
            [str(otelcol_binary()), "--config", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=open(workdir / "otelcol.log", "w"),  # noqa: SIM115
        )
        self.peak_mb = 0.0
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://{health}/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Collector did not start; see {workdir / 'otelcol.log'}")
            time.sleep(0.1)

    def sample_rss(self) -> None:
        self.peak_mb = max(self.peak_mb, peak_rss_mb([self.process.pid, *child_pids(self.process.pid)]))

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)


def reference_request() -> bytes:
    """The load's request (seed 99), with the planted values of PLANTED in a few spans."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest.FromString(otlp_request(mixed=True, seed=99))
    spans = request.resource_spans[0].scope_spans[0].spans
    extra = [value for kind, values in PLANTED.items() if kind not in ("e-mail", "phone") for value in values]
    for index, value in enumerate(extra):
        attribute = spans[1 + 4 * index].attributes.add()  # spans the load left clean
        attribute.key, attribute.value.string_value = "app.note", f"the customer gave {value} on the phone"
    return request.SerializeToString()


def what_got_through(make: Any) -> dict[str, tuple[int, int]]:
    """Send the reference request through `make(downstream)` once; per kind of PLANTED,
    (planted occurrences, occurrences that arrived)."""
    import grpc
    from support_receiver import ParseOnlyReceiver

    body = reference_request()
    receiver = ParseOnlyReceiver(keep=True)
    workdir = Path(tempfile.mkdtemp(prefix="spanguard-bench-leak-"))
    middle = make(workdir, receiver.address)
    try:
        with grpc.insecure_channel(middle.grpc_address, options=[("grpc.max_send_message_length", -1)]) as ch:
            ch.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)(body, timeout=60)
        deadline = time.monotonic() + 60
        while receiver.spans < SPANS_PER_REQUEST and time.monotonic() < deadline:
            time.sleep(0.1)
        arrived = b"".join(request.SerializeToString() for request in receiver.requests)
    finally:
        middle.stop()
        receiver.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    def count(data: bytes, values: list[str]) -> int:
        return sum(data.count(value.encode()) for value in values)

    return {kind: (count(body, values), count(arrived, values)) for kind, values in PLANTED.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="sidecar workers to run")
    parser.add_argument("--clients", type=int, default=4, help="concurrent calls in the load client")
    parser.add_argument(
        "--collector-plumbing",
        action="store_true",
        help="also the Collector with memory_limiter only (its receive/export cost)",
    )
    args = parser.parse_args(argv)

    otelcol_binary()  # build (or find cached) before anything is timed
    bodies = [otlp_request(mixed=True, seed=seed) for seed in range(4)]
    print(
        f"request: {SPANS_PER_REQUEST} spans, {len(bodies[0]) / 1e6:.1f} MB; {args.seconds:.0f} s per "
        f"phase after {args.warmup:.0f} s warm-up; {multiprocessing.cpu_count()} cores",
        flush=True,
    )

    middles: list[tuple[str, Any]] = [
        (f"spanguard sidecar workers={w}", lambda d, down, w=w: Sidecar(d, w, down)) for w in args.workers
    ]
    middles.append(("otelcol redaction processor", lambda d, down: Collector(d, down)))
    if args.collector_plumbing:
        middles.append(("otelcol, no redaction", lambda d, down: Collector(d, down, redaction=False)))

    with downstream_receiver() as downstream:
        results = [measure("direct", downstream, bodies, args)]
        for label, make in middles:
            results.append(
                measure(
                    label,
                    downstream,
                    bodies,
                    args,
                    lambda d, make=make: make(d, downstream.grpc_address),
                    prefix="spanguard-bench-cmp-",
                )
            )

    leaks = {label: what_got_through(make) for label, make in middles}

    direct = results[0]["delivered_per_s"] or 1.0
    print()
    print(f"{'path':<30}{'spans/s':>10}{'ratio':>7}{'refused':>9}{'CPU ms/1k spans':>17}{'peak RSS MB':>13}")
    for result in results:
        cpu = result["cpu_ms"].get("sidecar")  # run_phase's name for the middle process
        cpu_text = "-" if cpu is None else f"{1000 * cpu / SPANS_PER_REQUEST:.1f}"
        rss = "-" if result["peak_rss_mb"] is None else f"{result['peak_rss_mb']:.0f}"
        print(
            f"{result['label']:<30}{result['delivered_per_s']:>10,.0f}"
            f"{result['delivered_per_s'] / direct:>7.2f}{result['refused']:>9}{cpu_text:>17}{rss:>13}"
        )
    print()
    print("planted values that arrived downstream, of those sent (one 512-span reference request):")
    print(f"{'kind':<20}" + "".join(f"{label:>32}" for label, _ in middles))
    for kind in PLANTED:
        cells = []
        for label, _ in middles:
            planted, arrived = leaks[label][kind]
            cells.append(f"{arrived} of {planted} leaked" if arrived else f"all {planted} masked")
        print(f"{kind:<20}" + "".join(f"{cell:>32}" for cell in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
