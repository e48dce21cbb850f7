"""Peak RSS of the sidecar per in-flight request, against request size.

The worst case for memory is not a big prompt but many small attributes: each value
becomes protobuf and Python objects, so a request's footprint is many times its bytes.
For each size this starts a fresh sidecar (default rules), sends one request (or
`--concurrent` at once) of spans with 100 short string attributes each, and prints the
rise of the sidecar's peak RSS (VmHWM) over its idle peak, in MB and per MB of request.

    .venv/bin/python benchmarks/sidecar_memory.py --sizes-mb 1 4 8 15 --concurrent 1 4
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

sys.path.insert(0, str(Path(__file__).parent))
from sidecar_throughput import Sidecar, free_port, peak_rss_mb

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
ATTRIBUTES_PER_SPAN = 100


def small_attribute_request(size_mb: float) -> bytes:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    target = int(size_mb * 1_000_000)
    span_index = 0
    while True:
        span = scope.spans.add()
        span.trace_id = span_index.to_bytes(16, "big")
        span.span_id = (span_index + 1).to_bytes(8, "big")
        span.name = f"s{span_index}"
        for i in range(ATTRIBUTES_PER_SPAN):
            kv = span.attributes.add()
            kv.key, kv.value.string_value = f"attr.{i}", f"value {i} of {span_index}"
        span_index += 1
        if span_index % 200 == 0 and request.ByteSize() >= target:
            return request.SerializeToString()


def measure(size_mb: float, concurrent: int) -> tuple[int, float, float, list[str]]:
    body = small_attribute_request(size_mb)
    with tempfile.TemporaryDirectory(prefix="sg-mem-") as tmp:
        sidecar = Sidecar(Path(tmp), workers=1, downstream=f"127.0.0.1:{free_port()}")
        try:
            time.sleep(1.0)
            idle = peak_rss_mb([sidecar.process.pid])
            codes: list[str] = []

            def send() -> None:
                with grpc.insecure_channel(
                    sidecar.grpc_address, options=[("grpc.max_send_message_length", -1)]
                ) as channel:
                    try:
                        channel.unary_unary(EXPORT)(body, timeout=120)
                        codes.append("OK")
                    except grpc.RpcError as exc:
                        codes.append(exc.code().name)

            threads = [threading.Thread(target=send) for _ in range(concurrent)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            peak = peak_rss_mb([sidecar.process.pid])
        finally:
            sidecar.stop()
    return len(body), idle, peak, codes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=float, nargs="+", default=[1, 4, 8, 15])
    parser.add_argument("--concurrent", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args(argv)
    print(
        f"{'request MB':>10}{'at once':>8}{'idle MB':>9}{'peak MB':>9}{'rise MB':>9}"
        f"{'rise / req MB':>15}  outcomes"
    )
    for concurrent in args.concurrent:
        for size in args.sizes_mb:
            nbytes, idle, peak, codes = measure(size, concurrent)
            rise = peak - idle
            per = rise / (nbytes / 1e6) / concurrent
            print(
                f"{nbytes / 1e6:>10.1f}{concurrent:>8}{idle:>9.0f}{peak:>9.0f}{rise:>9.0f}{per:>15.1f}  "
                + ",".join(sorted(set(codes))),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
