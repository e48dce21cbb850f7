"""A parse-only OTLP/gRPC receiver: the yardstick and the downstream in tests.

Test and benchmark support, not part of the package (benchmarks import it from here).

It does what any receiver must (parse each request with upb) and nothing else, so the
benchmark's "direct" rate is the ceiling the sidecar is compared against, and fault
tests can stop and restart a real downstream on a fixed port. Optionally it keeps the
parsed requests so a test can check what arrived, and calls `on_request` first on the
handler thread, so a test can hold calls (to see how many are in flight at once) or fail
them with `context.abort` (a backend that answers some requests with UNAVAILABLE).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent import futures

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spanguard.sidecar.grpc_receiver import METHOD, SERVICE


class ParseOnlyReceiver:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        keep: bool = False,
        threads: int = 4,
        max_message_bytes: int = 64 * 1024 * 1024,
        on_request: Callable[[bytes, grpc.ServicerContext], None] | None = None,
    ) -> None:
        self.keep = keep
        self._on_request = on_request
        self.requests: list[ExportTraceServiceRequest] = []
        self.spans = 0
        self.request_count = 0
        self._lock = threading.Lock()
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=threads),
            options=[("grpc.max_receive_message_length", max_message_bytes), ("grpc.so_reuseport", 0)],
        )
        handler = grpc.unary_unary_rpc_method_handler(
            self._export, request_deserializer=None, response_serializer=None
        )
        generic = grpc.method_handlers_generic_handler(SERVICE, {METHOD: handler})
        self._server.add_generic_rpc_handlers((generic,))
        self.port = self._server.add_insecure_port(f"{host}:{port}")
        self.address = f"{host}:{self.port}"
        self._server.start()

    def _export(self, body: bytes, context: grpc.ServicerContext) -> bytes:
        if self._on_request is not None:
            self._on_request(body, context)
        request = ExportTraceServiceRequest.FromString(body)
        spans = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        with self._lock:
            self.spans += spans
            self.request_count += 1
            if self.keep:
                self.requests.append(request)
        return b""

    def stop(self) -> None:
        self._server.stop(0).wait(5)
