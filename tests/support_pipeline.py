"""Fixtures for the pipeline tests: one Chroma index, one traced runtime, loopback servers.

Importing LiteLLM and Chroma costs seconds, so the index and the tracer provider are
built once per session and each test only clears the in-memory exporter. Spans reach
that exporter through spanguard's real processor chain (redaction on, defaults).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from support_net import free_port


@dataclass
class TracedPipeline:
    """The shared runtime plus its in-memory view of exported spans."""

    runtime: Any
    exporter: Any

    def spans(self) -> list[Any]:
        self.runtime.provider.force_flush()
        return list(self.exporter.get_finished_spans())

    def span_dicts(self) -> list[dict[str, Any]]:
        from spanguard.pipeline.tracing import spans_to_dicts

        return spans_to_dicts(self.spans())


@pytest.fixture(scope="session")
def pipeline_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pipeline-data")


@pytest.fixture(scope="session")
def handbook_retriever(pipeline_data_dir: Path) -> Any:
    from spanguard.pipeline.embedding import HashingEmbedder
    from spanguard.pipeline.retrieval import ChromaRetriever

    retriever = ChromaRetriever(pipeline_data_dir, HashingEmbedder())
    retriever.ensure_index()
    return retriever


@pytest.fixture(scope="session")
def _session_pipeline(pipeline_data_dir: Path, handbook_retriever: Any) -> Iterator[TracedPipeline]:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from spanguard.config.model import PipelineConfig, SpanguardConfig
    from spanguard.pipeline.runtime import build_runtime

    exporter = InMemorySpanExporter()
    config = SpanguardConfig(pipeline=PipelineConfig(data_dir=str(pipeline_data_dir)))
    runtime = build_runtime(config, exporters={"memory": exporter}, retriever=handbook_retriever, environ={})
    yield TracedPipeline(runtime=runtime, exporter=exporter)
    runtime.shutdown()


@pytest.fixture
def traced_pipeline(_session_pipeline: TracedPipeline) -> TracedPipeline:
    """The shared runtime with an empty span buffer, LiteLLM instrumented into it."""
    from spanguard.pipeline.tracing import instrument_litellm

    instrument_litellm(_session_pipeline.runtime.provider)  # another test may have moved it
    _session_pipeline.runtime.provider.force_flush()
    _session_pipeline.exporter.clear()
    return _session_pipeline


@pytest.fixture
def restore_global_tracer_provider() -> Iterator[None]:
    """`configure_tracing` sets OpenTelemetry's process-wide provider; put the previous
    one back (the SDK's set-once guard is reset the way its own test utilities do)."""
    from opentelemetry import trace
    from opentelemetry.util._once import Once

    saved = trace._TRACER_PROVIDER
    yield
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    if saved is not None:
        trace.set_tracer_provider(saved)


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class LoopbackHTTPServer:
    """A threaded http.server on 127.0.0.1 whose POST handler a test supplies.

    `handler(path, headers, body) -> (status, content_type, body_bytes | chunks)`;
    a list of byte chunks is written with flushes in between (for SSE streaming).
    """

    handler: Callable[[str, dict[str, str], bytes], tuple[int, str, bytes | list[bytes]]]
    requests: list[RecordedRequest] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> LoopbackHTTPServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.requests.append(RecordedRequest(self.path, headers, body))
                status, content_type, payload = outer.handler(self.path, headers, body)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                if isinstance(payload, list):
                    self.send_header("Connection", "close")
                    self.end_headers()
                    for chunk in payload:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                    self.close_connection = True
                else:
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="loopback-http", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)


@dataclass
class UvicornThread:
    """A real uvicorn server for an ASGI app, on a free loopback port, in a thread."""

    app: Any
    port: int = field(default_factory=free_port)
    server: Any = None
    thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> UvicornThread:
        import uvicorn

        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-test", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)


def json_body(payload: Any) -> bytes:
    return json.dumps(payload).encode()
