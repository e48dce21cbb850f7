"""WireSpanExporter: SDK retry semantics over the shared OTLP/HTTP sender, ISA-L gzip on the wire."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SpanExportResult
from support_spans import finished_spans

from spanguard.exporters.endpoints import otlp_target
from spanguard.exporters.senders import OtlpHttpSender
from spanguard.exporters.wire_exporter import WireSpanExporter


class Backend:
    """An OTLP/HTTP endpoint answering the statuses in `script` in turn (then 200)."""

    def __init__(self) -> None:
        self.script: list[int] = []
        self.bodies: list[bytes] = []
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                assert self.headers["Content-Encoding"] == "gzip"
                backend.bodies.append(gzip.decompress(body))  # the standard library reads it
                status = backend.script.pop(0) if backend.script else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def backend() -> Iterator[Backend]:
    server = Backend()
    yield server
    server.server.shutdown()
    server.server.server_close()


def exporter_for(backend: Backend, timeout_s: float = 10.0) -> WireSpanExporter:
    return WireSpanExporter(
        OtlpHttpSender("otlp", otlp_target("http/protobuf", backend.url), "gzip", timeout_s), timeout_s
    )


def test_retryable_statuses_are_retried_and_the_body_means_what_the_sdk_sends(backend: Backend) -> None:
    spans = finished_spans(3, **{"input.value": "x" * 5000})
    backend.script = [503, 429]
    exporter = exporter_for(backend)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert len(backend.bodies) == 3
    expected = ExportTraceServiceRequest.FromString(encode_spans(spans).SerializeToString())
    assert all(ExportTraceServiceRequest.FromString(body) == expected for body in backend.bodies)


def test_a_refusal_is_final(backend: Backend) -> None:
    backend.script = [400]
    exporter = exporter_for(backend)
    assert exporter.export(finished_spans(1)) is SpanExportResult.FAILURE
    exporter.shutdown()
    assert len(backend.bodies) == 1


def test_retries_stop_when_the_next_backoff_would_pass_the_timeout(backend: Backend) -> None:
    backend.script = [503] * 10
    exporter = exporter_for(backend, timeout_s=1.5)
    assert exporter.export(finished_spans(1)) is SpanExportResult.FAILURE
    exporter.shutdown()
    assert len(backend.bodies) == 2  # at once, then after ~1 s; the next wait (~2 s) would not fit


def test_shutdown_cuts_a_backoff_short(backend: Backend) -> None:
    backend.script = [503] * 10
    exporter = exporter_for(backend, timeout_s=60)
    outcome: list[SpanExportResult] = []
    worker = threading.Thread(target=lambda: outcome.append(exporter.export(finished_spans(1))))
    worker.start()
    while not backend.bodies:
        threading.Event().wait(0.01)
    exporter.shutdown()
    worker.join(10)
    assert outcome == [SpanExportResult.FAILURE]
    assert exporter.export(finished_spans(1)) is SpanExportResult.FAILURE  # after shutdown
