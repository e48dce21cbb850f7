"""Spans per second through the sidecar, next to a parse-only receiver fed directly.

A load client (its own process, several concurrent gRPC calls) sends the reference
LLM spans (the processor benchmark's: 19 string attributes of ~200 chars and an 8 KB
prompt in `input.value`, one prompt in four with an e-mail and a phone number), 512
spans a request, for a fixed time. The parse-only OTLP/gRPC receiver runs in its own
process and counts what it parsed. In the same run we measure:

  direct    client -> receiver
  sidecar   client -> spanguard sidecar (default rules, durable queue, OTLP out) -> receiver

for `workers: 1` and `workers: 2` and for each way out in `--exports`: OTLP/gRPC with
the default `compression: gzip` (grpc's own zlib) and with `compression: none`, and
OTLP/HTTP with gzip (spanguard's codec; the receiver then also serves `/v1/traces`,
inflating and parsing). It prints spans/s delivered to the receiver, the ratio
to direct and the sidecar's peak RSS (VmHWM, summed over its processes). For each phase
it also prints where the CPU went: CPU ms per delivered request in the client, the
receiver and the sidecar (utime + stime from /proc), and how busy the machine was. From
those it works out the CPU budget per request that a target ratio leaves the sidecar on
this machine, next to what the sidecar used and what one RE2 pass over a request costs.

    .venv/bin/python benchmarks/sidecar_throughput.py [--seconds 10] [--workers 1 2] [--clients 4]
        [--exports grpc:gzip grpc:none http:gzip]
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.synchronize
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
# the parse-only receiver is test support (tests/support_receiver.py), not the package's
sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "tests"))
from processor_overhead import otlp_request

SPANS_PER_REQUEST = 512
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- processes -------------------------------------------------------------------------


def http_receiver(port: int) -> tuple[Any, list[int]]:
    """OTLP/HTTP next to the gRPC one: inflate (the codec the sidecar uses, else zlib),
    parse, count; nothing else, as `ParseOnlyReceiver` does for gRPC."""
    import zlib
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    try:
        from spanguard.exporters.gzip_codec import decompress
    except ImportError:  # an older checkout, measured for "before"

        def decompress(data: bytes) -> bytes:
            return zlib.decompress(data, 16 + zlib.MAX_WBITS)

    counted = [0]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if (self.headers.get("Content-Encoding") or "").lower() == "gzip":
                body = decompress(body)
            request = ExportTraceServiceRequest.FromString(body)
            with lock:
                counted[0] += sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    return server, counted


def receiver_main(
    port: int,
    http_port: int,
    spans: Any,
    ready: multiprocessing.synchronize.Event,
    stop: multiprocessing.synchronize.Event,
) -> None:
    from support_receiver import ParseOnlyReceiver

    receiver = ParseOnlyReceiver(port=port, threads=4)
    server, counted = http_receiver(http_port)
    ready.set()
    while not stop.wait(0.05):
        spans.value = receiver.spans + counted[0]
    spans.value = receiver.spans + counted[0]
    server.shutdown()
    receiver.stop()


def client_main(
    address: str,
    bodies: list[bytes],
    concurrency: int,
    stop: multiprocessing.synchronize.Event,
    sent: Any,
    refused: Any,
) -> None:
    import grpc

    lock = threading.Lock()
    # One connection per sender, as from separate applications: SO_REUSEPORT spreads
    # connections (not calls) over the sidecar's workers. A local subchannel pool keeps
    # gRPC from sharing one connection between the channels.
    options = [("grpc.max_send_message_length", -1), ("grpc.use_local_subchannel_pool", 1)]
    channels = [grpc.insecure_channel(address, options=options) for _ in range(concurrency)]

    def loop(offset: int) -> None:
        call = channels[offset].unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
        index = offset
        while not stop.is_set():
            body = bodies[index % len(bodies)]
            index += 1
            try:
                call(body, timeout=30)
                with lock:
                    sent.value += SPANS_PER_REQUEST
            except grpc.RpcError:
                with lock:
                    refused.value += 1
                time.sleep(0.05)  # backpressure: back off a little, as OTLP clients do

    threads = [threading.Thread(target=loop, args=(n,)) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for channel in channels:
        channel.close()


def peak_rss_mb(pids: Sequence[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU of live processes (all their threads), from /proc/PID/stat."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, IndexError):
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all cores since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def child_pids(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    kids = [int(p) for p in text.split()]
    return kids + [grand for kid in kids for grand in child_pids(kid)]


class Sidecar:
    def __init__(
        self,
        workdir: Path,
        workers: int,
        downstream: str,
        rules: bool = True,
        protocol: str = "grpc",
        compression: str = "gzip",
    ) -> None:
        self.workdir = workdir
        config: dict[str, Any] = {
            "exporters": {
                "otlp": {"endpoint": f"http://{downstream}", "protocol": protocol, "compression": compression}
            },
            "sidecar": {
                "grpc": {"endpoint": f"127.0.0.1:{free_port()}"},
                "http": {"endpoint": f"127.0.0.1:{free_port()}"},
                "queue": {"directory": str(workdir / "queue"), "max_bytes": "2GB"},
                "workers": workers,
                "shutdown_timeout_s": 5,
            },
        }
        if not rules:  # the plumbing alone: receive, queue, deliver
            config["redaction"] = {"enabled": False}
            config["truncation"] = {"enabled": False}
        path = workdir / "spanguard.yaml"
        path.write_text(yaml.safe_dump(config))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "spanguard", "sidecar", "--config", str(path)],
            stdout=subprocess.PIPE,
            stderr=open(workdir / "sidecar.log", "w"),  # noqa: SIM115
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "listening" not in line:
            raise RuntimeError(f"sidecar did not start; see {workdir / 'sidecar.log'}")
        self.grpc_address = config["sidecar"]["grpc"]["endpoint"]  # type: ignore[index]
        self.peak_mb = 0.0

    def sample_rss(self) -> None:
        self.peak_mb = max(self.peak_mb, peak_rss_mb([self.process.pid, *child_pids(self.process.pid)]))

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)


def run_phase(
    label: str,
    target: str,
    receiver_spans: Any,
    receiver_pid: int,
    bodies: list[bytes],
    seconds: float,
    clients: int,
    warmup: float,
    sidecar: Sidecar | None = None,
) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    sent = context.Value("q", 0)
    refused = context.Value("q", 0)
    client = context.Process(target=client_main, args=(target, bodies, clients, stop, sent, refused))
    client.start()
    time.sleep(warmup)
    assert client.pid is not None
    groups: dict[str, list[int]] = {"client": [client.pid], "receiver": [receiver_pid]}
    if sidecar is not None:
        groups["sidecar"] = [sidecar.process.pid, *child_pids(sidecar.process.pid)]
    cpu_before = {name: cpu_seconds(pids) for name, pids in groups.items()}
    busy_before, total_before = machine_ticks()
    start_spans, start_sent, started = receiver_spans.value, sent.value, time.monotonic()
    while time.monotonic() - started < seconds:
        time.sleep(0.2)
        if sidecar is not None:
            sidecar.sample_rss()
    elapsed = time.monotonic() - started
    delivered = receiver_spans.value - start_spans
    accepted = sent.value - start_sent
    cpu_after = {name: cpu_seconds(pids) for name, pids in groups.items()}
    busy_after, total_after = machine_ticks()
    stop.set()
    client.join(60)
    requests = delivered / SPANS_PER_REQUEST
    cpu_ms = {
        name: 1000 * (cpu_after[name] - cpu_before[name]) / requests if requests else float("nan")
        for name in groups
    }
    return {
        "label": label,
        "delivered_per_s": delivered / elapsed,
        "accepted_per_s": accepted / elapsed,
        "refused": refused.value,
        "peak_rss_mb": sidecar.peak_mb if sidecar else None,
        "cpu_ms": cpu_ms,
        "busy": (busy_after - busy_before) / max(1, total_after - total_before),
    }


@dataclass(frozen=True)
class Downstream:
    """The parse-only receiver process every phase delivers to (gRPC and OTLP/HTTP)."""

    grpc_address: str
    http_address: str
    spans: Any  # a shared counter: spans parsed so far
    pid: int


@contextmanager
def downstream_receiver() -> Iterator[Downstream]:
    """Start the receiver in its own (spawned) process; stop it on leaving."""
    context = multiprocessing.get_context("spawn")
    spans = context.Value("q", 0)
    ready, stop = context.Event(), context.Event()
    port, http_port = free_port(), free_port()
    receiver = context.Process(target=receiver_main, args=(port, http_port, spans, ready, stop))
    receiver.start()
    ready.wait(60)
    assert receiver.pid is not None
    try:
        yield Downstream(f"127.0.0.1:{port}", f"127.0.0.1:{http_port}", spans, receiver.pid)
    finally:
        stop.set()
        receiver.join(30)


def measure(
    label: str,
    downstream: Downstream,
    bodies: list[bytes],
    args: argparse.Namespace,
    make_middle: Callable[[Path], Any] | None = None,
    prefix: str = "spanguard-bench-",
) -> dict[str, Any]:
    """One phase with `args.seconds`/`args.clients`/`args.warmup`: straight to the receiver
    when `make_middle` is None, else through the middle it builds in a fresh work
    directory (a Sidecar or anything shaped like one), stopped and removed afterwards."""
    workdir: Path | None = None
    middle: Any = None
    if make_middle is not None:
        workdir = Path(tempfile.mkdtemp(prefix=prefix))
        middle = make_middle(workdir)
    target = downstream.grpc_address if middle is None else middle.grpc_address
    try:
        result = run_phase(
            label,
            target,
            downstream.spans,
            downstream.pid,
            bodies,
            args.seconds,
            args.clients,
            args.warmup,
            middle,
        )
    finally:
        if middle is not None:
            middle.stop()
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"  {label}: {result['delivered_per_s']:,.0f} spans/s", flush=True)
    return result


def scan_cost_ms(body: bytes, repeats: int = 5) -> tuple[float, float]:
    """CPU ms of one RE2 pass over a request: the sidecar's prefilter with the default
    rules (what it runs per request), and the same prefilter with only `iban` on (it starts
    with a letter class, so RE2 cannot skip ahead with memchr and looks at every byte).
    The second is the floor any one-pass scan of these bytes pays here."""
    from spanguard.config.model import RedactionConfig, TruncationConfig
    from spanguard.processors.otlp_prefilter import prefilter_for
    from spanguard.processors.otlp_units import unit_bounds
    from spanguard.processors.redaction import Redactor
    from spanguard.processors.truncation import Truncator

    default = prefilter_for(Redactor(RedactionConfig()), Truncator(TruncationConfig()))
    iban_only = prefilter_for(Redactor(RedactionConfig(detectors=["iban"])), None)
    bounds = unit_bounds(body)
    assert bounds is not None
    starts, ends = bounds

    def best(run: Any) -> float:
        times = []
        for _ in range(repeats):
            started = time.process_time()
            run()
            times.append(time.process_time() - started)
        return 1000 * min(times)

    return (
        best(lambda: default.locate_in(body, starts, ends)),
        best(lambda: iban_only.locate_in(body, starts, ends)),
    )


def measure_queue_appends(record_bytes: int = 64 * 1024, appends: int = 400) -> None:
    """What "on disk before the ack" costs: appends/s with fsync, one sender vs eight (group
    commit), and without fsync for comparison."""
    from spanguard.sidecar.queue_writer import QueueWriter

    payload = os.urandom(record_bytes)
    print(f"queue appends of {record_bytes // 1024} KB records:")
    for fsync, threads in ((True, 1), (True, 8), (False, 1)):
        directory = Path(tempfile.mkdtemp(prefix="spanguard-bench-queue-"))
        writer = QueueWriter(directory, "w0", max_bytes=1 << 40, fsync=fsync)
        per_thread = appends // threads

        def send(count: int = per_thread, w: QueueWriter = writer) -> None:
            for _ in range(count):
                w.append(payload)

        workers = [threading.Thread(target=send) for _ in range(threads)]
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - started
        done = per_thread * threads
        rate = done / elapsed
        print(
            f"  fsync={'on ' if fsync else 'off'} senders={threads}: {rate:8,.0f} appends/s "
            f"({rate * record_bytes / 1e6:6.0f} MB/s), {writer.commits} commits for {done} appends",
            flush=True,
        )
        writer.close()
        shutil.rmtree(directory, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--clients", type=int, default=4, help="concurrent calls in the load client")
    parser.add_argument("--target", type=float, default=0.3, help="ratio to direct to budget for")
    parser.add_argument("--skip-queue", action="store_true", help="skip the queue append measurement")
    parser.add_argument(
        "--no-rules",
        action="store_true",
        help="also run workers=1 with redaction and truncation off (the plumbing's ceiling)",
    )
    parser.add_argument(
        "--exports",
        nargs="+",
        default=["grpc:gzip", "grpc:none", "http:gzip"],
        help="ways out, PROTOCOL:COMPRESSION; the first is the one budgeted for",
    )
    args = parser.parse_args(argv)
    if not args.skip_queue:
        measure_queue_appends()

    bodies = [otlp_request(mixed=True, seed=seed) for seed in range(4)]
    print(
        f"request: {SPANS_PER_REQUEST} spans, {len(bodies[0]) / 1e6:.1f} MB; "
        f"{args.seconds:.0f} s per phase after {args.warmup:.0f} s warm-up; {os.cpu_count()} cores",
        flush=True,
    )
    exports = [tuple(way.split(":", 1)) for way in args.exports]
    variants = [
        (workers, True, protocol, compression)
        for workers in args.workers
        for protocol, compression in exports
    ]
    if args.no_rules:
        variants.append((1, False, *exports[0]))
    with downstream_receiver() as downstream:
        results = [measure("direct", downstream, bodies, args)]
        for workers, rules, protocol, compression in variants:
            out = downstream.grpc_address if protocol == "grpc" else downstream.http_address
            label = f"w={workers} {protocol} {compression}" + ("" if rules else " no rules")
            results.append(
                measure(
                    label,
                    downstream,
                    bodies,
                    args,
                    lambda d, w=workers, o=out, r=rules, p=protocol, c=compression: Sidecar(
                        d, w, o, r, "grpc" if p == "grpc" else "http/protobuf", c
                    ),
                    prefix=f"spanguard-bench-w{workers}-",
                )
            )

    direct = results[0]["delivered_per_s"] or 1.0
    print()
    print(
        f"{'path (sidecar out)':<31}{'delivered spans/s':>18}{'accepted spans/s':>18}{'ratio':>8}"
        f"{'refused':>9}{'peak RSS MB':>13}"
    )
    for result in results:
        rss = "-" if result["peak_rss_mb"] is None else f"{result['peak_rss_mb']:.0f}"
        print(
            f"{result['label']:<31}{result['delivered_per_s']:>18,.0f}{result['accepted_per_s']:>18,.0f}"
            f"{result['delivered_per_s'] / direct:>8.2f}{result['refused']:>9}{rss:>13}"
        )
    print()
    print(
        f"{'CPU ms per delivered request':<31}{'client':>10}{'receiver':>10}{'sidecar':>10}"
        f"{'machine busy':>14}"
    )
    for result in results:
        cpu = result["cpu_ms"]
        sidecar_ms = f"{cpu['sidecar']:.1f}" if "sidecar" in cpu else "-"
        print(
            f"{result['label']:<31}{cpu['client']:>10.1f}{cpu['receiver']:>10.1f}{sidecar_ms:>10}"
            f"{100 * result['busy']:>13.0f}%"
        )
    print_budget(
        results, args.target, os.cpu_count() or 1, scan_cost_ms(bodies[0]), "w=1 {} {}".format(*exports[0])
    )
    return 0


def print_budget(
    results: list[dict[str, Any]], target: float, cores: int, scan: tuple[float, float], budgeted: str
) -> None:
    """The CPU per request a target ratio leaves the sidecar: all cores' time over the
    requests/s the target needs, less what the client and the receiver take. Given at
    100% busy (the ceiling) and at the busy share one worker actually reached."""
    direct = results[0]["delivered_per_s"]
    one = next((r for r in results if r["label"] == budgeted), None)
    if not direct or one is None:
        return
    needed = target * direct / SPANS_PER_REQUEST
    others = one["cpu_ms"]["client"] + one["cpu_ms"]["receiver"]
    plumbing = next((r for r in results if r["label"].endswith("no rules")), None)
    print()
    print(
        f"CPU budget for {target:.2f}x of direct ({budgeted}): {needed:.1f} requests/s on {cores} cores; "
        f"client + receiver take {others:.1f} ms of each request"
    )
    for busy, why in ((1.0, "every core busy all the time"), (one["busy"], f"as busy as {budgeted} got")):
        left = busy * cores * 1000 / needed - others
        print(f"  {100 * busy:3.0f}% busy ({why}): {left:5.1f} ms per request left for the sidecar")
    used = f"  sidecar {budgeted} used {one['cpu_ms']['sidecar']:.1f} ms"
    if plumbing is not None:
        used += f"; with rules off (receive, queue, deliver) {plumbing['cpu_ms']['sidecar']:.1f} ms"
    print(used)
    print(
        f"  one RE2 pass over a request: {scan[0]:.1f} ms with the default prefilter, "
        f"{scan[1]:.1f} ms with only `iban` on (the per-byte floor)"
    )


if __name__ == "__main__":
    sys.exit(main())
