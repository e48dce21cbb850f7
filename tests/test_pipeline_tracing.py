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
# configure_tracing sets the process-wide provider: put the previous one back after each test
pytestmark = pytest.mark.usefixtures("restore_global_tracer_provider")


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
        return [
            RetrievedDocument(
                id="d1", content=f"Write to {EMAIL} about leave.", score=0.9, metadata={"source": "hr.md"}
            )
        ][:top_k]

    def answer(question: str, context_chunks: list[str]) -> str:
        assert all(isinstance(chunk, str) for chunk in context_chunks)  # strings, as the tutorials pass
        return f"{len(context_chunks)} passage(s) about: {question}"

    tracing = build_in_memory_tracer()
    try:
        rag = build_traced_rag_pipeline(retrieve, answer, tracing.tracer, top_k=2)
        assert rag("Who handles leave?") == "1 passage(s) about: Who handles leave?"
        spans = spans_to_dicts(tracing.spans())
    finally:
        tracing.shutdown()
    by_kind = {span["kind"]: span for span in spans}
    assert set(by_kind) == {"CHAIN", "RETRIEVER", "LLM"}
    assert [span["name"] for span in spans] == ["retrieval", "generation", "rag-pipeline"]
    assert by_kind["RETRIEVER"]["attributes"]["retrieval.top_k"] == 2
    assert by_kind["RETRIEVER"]["attributes"]["retrieval.top_score"] == 0.9
    assert by_kind["LLM"]["attributes"]["generation.context_chunk_count"] == 1
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
    assert exported.events[0].attributes == {
        "agent.step": 1,
        "agent.action": "tool_call",
        "agent.detail": "search_handbook",
    }


def test_configure_tracing_exports_redacted_otlp_to_the_endpoint(
    otlp_receiver: tuple[LoopbackHTTPServer, list[Any]],
) -> None:
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


# ------------------------------------------------------------------ the tutorials, as written


def test_tutorial_in_memory_record_helpers_as_written(handbook_retriever: Any) -> None:
    """Tutorial 9 (in-memory spans), cell by cell; the retriever is spanguard's, called
    the way the tutorial calls its `dense_retriever`; a planted e-mail is redacted."""
    from spanguard.pipeline.tracing import (
        build_in_memory_tracer,
        record_agent_step_span,
        record_generation_span,
        record_retrieval_span,
        spans_to_dicts,
    )

    def dense_retriever(query: str, top_k: int = 5) -> Any:
        return handbook_retriever.retrieve(query, top_k)

    def answer_with_context(question: str, context_chunks: list[str], model: str) -> str:
        return f"Per the handbook: {context_chunks[0][:60]}" if context_chunks else "Not found."

    chat_model = "gpt-4.1-mini"

    tracer, exporter = build_in_memory_tracer()
    with tracer.start_as_current_span("my_first_span") as span:
        span.set_attribute("greeting", "hello world")
        span.set_attribute("step", 1)
    finished = exporter.get_finished_spans()
    assert len(finished) == 1  # synchronous: there right after the span ends
    span_obj = finished[0]
    assert span_obj.name == "my_first_span"
    assert span_obj.status.status_code.name == "UNSET"
    assert dict(span_obj.attributes) == {"greeting": "hello world", "step": 1}

    query = f"How do I file travel expenses? Reply to {EMAIL}"
    TOP_K = 5
    results = dense_retriever(query, top_k=TOP_K)
    tracer_r, exporter_r = build_in_memory_tracer()
    record_retrieval_span(tracer_r, query=query, results=results, top_k=TOP_K)
    span_data = spans_to_dicts(exporter_r.get_finished_spans())[0]
    attributes = span_data["attributes"]
    assert span_data["name"] == "retrieval"
    assert attributes["retrieval.top_k"] == 5
    assert attributes["retrieval.result_count"] == len(results) > 0
    assert attributes["retrieval.top_score"] == pytest.approx(max(r.score for r in results))
    assert attributes["retrieval.query"] == "How do I file travel expenses? Reply to [REDACTED:email]"
    assert results[0].chunk_id == results[0].id and results[0].text == results[0].content

    tracer_pipe, exporter_pipe = build_in_memory_tracer()
    question = "What is the policy for working remotely from another country?"
    retrieved = dense_retriever(question, top_k=5)
    record_retrieval_span(tracer_pipe, query=question, results=retrieved, top_k=5)
    context_chunks = [r.text for r in retrieved]
    answer = answer_with_context(question, context_chunks, model=chat_model)
    record_generation_span(
        tracer_pipe,
        question=question,
        answer=answer,
        model=chat_model,
        context_chunk_count=len(context_chunks),
    )
    trace_dicts = spans_to_dicts(exporter_pipe.get_finished_spans())
    assert [d["name"] for d in trace_dicts] == ["retrieval", "generation"]
    generation = trace_dicts[1]["attributes"]
    assert generation["generation.question"] == question
    assert generation["generation.model"] == "gpt-4.1-mini"
    assert generation["generation.context_chunk_count"] == len(context_chunks) == 5
    assert generation["generation.answer_word_count"] == len(answer.split())
    assert all(d["status"] == "UNSET" and d["duration_ms"] >= 0 for d in trace_dicts)

    tracer_agent, exporter_agent = build_in_memory_tracer()
    steps = [
        ("I should search the handbook.", "retrieve", "international work limit", "Chunk 1 ..."),
        (f"Found it; I will answer {EMAIL}.", "finish", "At most 30 days a year.", ""),
    ]
    for i, (thought, action, action_input, observation) in enumerate(steps, start=1):
        record_agent_step_span(
            tracer_agent,
            step_number=i,
            thought=thought,
            action=action,
            action_input=action_input,
            observation=observation,
        )
    agent_span_dicts = spans_to_dicts(exporter_agent.get_finished_spans())
    assert [d["name"] for d in agent_span_dicts] == ["agent_step", "agent_step"]
    first, second = (d["attributes"] for d in agent_span_dicts)
    assert (
        first["agent.step_number"],
        first["agent.action"],
        first["agent.action_input"],
        first["agent.observation_length"],
    ) == (1, "retrieve", "international work limit", 11)
    assert second["agent.thought"] == "Found it; I will answer [REDACTED:email]."

    empty_results = dense_retriever("", top_k=3)
    tracer_err, exporter_err = build_in_memory_tracer()
    record_retrieval_span(tracer_err, query="", results=empty_results, top_k=3)
    assert spans_to_dicts(exporter_err.get_finished_spans())[0]["status"] == "UNSET"


def test_tutorial_configure_tracing_then_global_tracers_as_written(
    capsys: pytest.CaptureFixture[str], handbook_retriever: Any
) -> None:
    """Tutorial 9 (console, then OpenTelemetry's own `trace.get_tracer`): configure_tracing
    sets the global provider, so spans of tracers made without a provider are recorded."""
    from opentelemetry import trace

    from spanguard.pipeline.tracing import (
        ATTR_INPUT_VALUE,
        ATTR_LLM_MODEL_NAME,
        ATTR_OUTPUT_VALUE,
        build_traced_rag_pipeline,
        configure_tracing,
        get_tracer,
        traced_retrieval,
    )

    def dense_retriever(question: str, top_k: int = 5) -> Any:
        return handbook_retriever.retrieve(question, top_k)

    def answer_with_context(question: str, context_chunks: list[str], model: str = "x") -> str:
        return f"{model}: {len(context_chunks)} chunks"

    chat_model = "gpt-4.1-mini"
    provider = configure_tracing(service_name="rag-tracing-tutorial", instrument=False)
    try:
        assert trace.get_tracer_provider() is provider
        tracer = get_tracer("tutorial.manual")
        with tracer.start_as_current_span("first-span") as span:
            span.set_attribute("example.greeting", "hello from the span")
            span.set_attribute(ATTR_INPUT_VALUE, f"write to {EMAIL}")
        with trace.get_tracer("plain.otel").start_as_current_span("otel-span") as span:
            span.set_attribute(ATTR_LLM_MODEL_NAME, chat_model)
            span.set_attribute(ATTR_OUTPUT_VALUE, f"cc {EMAIL}")
        traced_dense = traced_retrieval(dense_retriever, get_tracer("tutorial.retrieval"))
        results = traced_dense("What is the maximum number of days abroad?", top_k=3)
        assert len(results) == 3
        pipeline = build_traced_rag_pipeline(
            retriever=dense_retriever,
            answer_fn=answer_with_context,
            tracer=get_tracer("tutorial.pipeline"),
            model_name=chat_model,
        )
        assert pipeline("What is the remote work VPN requirement?") == "gpt-4.1-mini: 4 chunks"
        provider.force_flush()
    finally:
        provider.shutdown()
    printed = capsys.readouterr().out
    for name in ("first-span", "otel-span", "retrieval", "generation", "rag-pipeline"):
        assert name in printed
    assert EMAIL not in printed and "[REDACTED:email]" in printed


def test_configure_tracing_files_spans_under_the_project(
    otlp_receiver: tuple[LoopbackHTTPServer, list[Any]],
) -> None:
    from opentelemetry import trace

    from spanguard.pipeline.tracing import configure_tracing

    server, received = otlp_receiver
    provider = configure_tracing(endpoint=server.base_url, project="rag_tutorial", instrument=False)
    try:
        with trace.get_tracer("tutorial").start_as_current_span("in-project"):
            pass
        provider.force_flush()
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        provider.shutdown()
    assert received, "no OTLP request reached the endpoint"
    resource = {kv.key: kv.value.string_value for kv in received[0].resource_spans[0].resource.attributes}
    assert resource["openinference.project.name"] == "rag_tutorial"


def test_spans_to_dataframe_flattens_attributes() -> None:
    from spanguard.pipeline.tracing import build_in_memory_tracer, record_retrieval_span, spans_to_dataframe

    tracer, exporter = build_in_memory_tracer()
    record_retrieval_span(tracer, query=f"mail {EMAIL}", results=[], top_k=3)
    frame = spans_to_dataframe(exporter.get_finished_spans())
    assert list(frame["name"]) == ["retrieval"]
    assert frame.loc[0, "attributes.retrieval.top_k"] == 3
    assert frame.loc[0, "attributes.retrieval.query"] == "mail [REDACTED:email]"
    assert "attributes.retrieval.top_score" not in frame.columns  # no results, no score
