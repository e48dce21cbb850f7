"""The tutorial tracing helpers: in-memory tracer, record_* helpers, the plain RAG chain,
and `configure_tracing(endpoint)` exporting OTLP/HTTP to a real loopback receiver."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from typing import Any

import pytest
from support_pipeline import LoopbackHTTPServer

EMAIL = "max.mustermann@example.org"


def _receiver() -> tuple[LoopbackHTTPServer, list[Any]]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )

    received: list[Any] = []

    def handle(path: str, headers: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        if path != "/v1/traces":
            return 404, "text/plain", b"not found"
        if headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        received.append(request)
        return 200, "application/x-protobuf", ExportTraceServiceResponse().SerializeToString()

    return LoopbackHTTPServer(handle), received


@pytest.fixture
def otlp_receiver() -> Iterator[tuple[LoopbackHTTPServer, list[Any]]]:
    server, received = _receiver()
    server.start()
    yield server, received
    server.stop()


def test_in_memory_tracer_and_rag_chain_with_plain_callables() -> None:
    from spanguard.pipeline.retrieval import RetrievedDocument
    from spanguard.pipeline.tracing import build_in_memory_tracer, build_traced_rag_pipeline, spans_to_dicts

    def retrieve(query: str, top_k: int) -> list[RetrievedDocument]:
        return [RetrievedDocument(id="d1", content=f"Write to {EMAIL} about leave.", score=0.9,
                                  metadata={"source": "hr.md"})][:top_k]

    def answer(question: str, documents: Any) -> str:
        return f"{len(documents)} passage(s) about: {question}"

    tracing = build_in_memory_tracer(instrument=False)
    try:
        rag = build_traced_rag_pipeline(retrieve, answer, tracing.tracer, top_k=2)
        assert rag("Who handles leave?") == "1 passage(s) about: Who handles leave?"
        spans = spans_to_dicts(tracing.spans())
    finally:
        tracing.shutdown()
    by_kind = {span["kind"]: span for span in spans}
    assert set(by_kind) == {"CHAIN", "RETRIEVER", "LLM"}
    assert by_kind["RETRIEVER"]["parent_id"] == by_kind["CHAIN"]["span_id"]
    assert by_kind["LLM"]["parent_id"] == by_kind["CHAIN"]["span_id"]
    assert by_kind["LLM"]["attributes"]["llm.input_messages.1.message.content"] == "Who handles leave?"
    assert by_kind["LLM"]["attributes"]["llm.output_messages.0.message.content"].startswith("1 passage")
    content = by_kind["RETRIEVER"]["attributes"]["retrieval.documents.0.document.content"]
    assert EMAIL not in content and "[REDACTED:email]" in content  # through spanguard
    assert all(span["duration_ms"] is not None and span["duration_ms"] >= 0 for span in spans)


def test_errors_are_recorded_with_error_status() -> None:
    from spanguard.pipeline.tracing import build_in_memory_tracer, spans_to_dicts, traced_retrieval

    def broken(query: str, top_k: int) -> list[Any]:
        raise TimeoutError("search backend timed out")

    tracing = build_in_memory_tracer(instrument=False)
    try:
        with pytest.raises(TimeoutError):
            traced_retrieval(broken, tracing.tracer)("anything")
        [span] = spans_to_dicts(tracing.spans())
    finally:
        tracing.shutdown()
    assert span["status"] == "ERROR"
    assert span["events"][0]["name"] == "exception"
    assert span["events"][0]["attributes"]["exception.type"] == "TimeoutError"


def test_record_agent_step_and_tool_call() -> None:
    from spanguard.pipeline.tracing import build_in_memory_tracer, record_agent_step, record_tool_call

    tracing = build_in_memory_tracer(instrument=False)
    try:
        with tracing.tracer.start_as_current_span("tool") as span:
            record_tool_call(span, name="search_handbook", arguments={"query": "leave"}, output="[]")
            record_agent_step(span, step=1, action="tool_call", detail="search_handbook")
        [exported] = tracing.spans()
    finally:
        tracing.shutdown()
    attributes = dict(exported.attributes or {})
    assert attributes["openinference.span.kind"] == "TOOL"
    assert attributes["tool.name"] == "search_handbook"
    assert attributes["tool.parameters"] == '{"query": "leave"}'
    assert "tool.json_schema" not in attributes  # not given, so not invented
    assert exported.events[0].attributes == {"agent.step": 1, "agent.action": "tool_call",
                                             "agent.detail": "search_handbook"}


def test_configure_tracing_exports_redacted_otlp_to_the_endpoint(
        otlp_receiver: tuple[LoopbackHTTPServer, list[Any]]) -> None:
    from openinference.instrumentation import using_session
    from spanguard.pipeline.tracing import configure_tracing, get_tracer, record_input

    server, received = otlp_receiver
    provider = configure_tracing(server.base_url, instrument=False, service_name="tutorial-test")
    try:
        tracer = get_tracer(provider)
        with using_session("session_otlp"), tracer.start_as_current_span("agent_turn") as span:
            record_input(span, f"my address is {EMAIL}")
        provider.force_flush()
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        provider.shutdown()
    assert received, "no OTLP request reached the endpoint"
    resource_spans = received[0].resource_spans[0]
    service = {kv.key: kv.value.string_value for kv in resource_spans.resource.attributes}["service.name"]
    assert service == "tutorial-test"
    [exported] = resource_spans.scope_spans[0].spans
    attributes = {kv.key: kv.value.string_value for kv in exported.attributes}
    assert attributes["session.id"] == "session_otlp"
    assert attributes["input.value"] == "my address is [REDACTED:email]"
    assert EMAIL.encode() not in received[0].SerializeToString()


def test_configure_tracing_without_endpoint_prints_redacted_spans(capsys: pytest.CaptureFixture[str]) -> None:
    from spanguard.pipeline.tracing import configure_tracing, get_tracer, record_input

    provider = configure_tracing(instrument=False, service_name="tutorial-console")
    try:
        with get_tracer(provider).start_as_current_span("console_turn") as span:
            record_input(span, f"my address is {EMAIL}")
    finally:
        provider.shutdown()  # flushes the batching queue
    printed = capsys.readouterr().out
    assert "console_turn" in printed
    assert "my address is [REDACTED:email]" in printed
    assert EMAIL not in printed
