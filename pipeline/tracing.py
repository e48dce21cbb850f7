"""Tracing helpers for the reference pipeline, in the shape of the tutorial users learned.

Every span goes through spanguard: `build_tracer_provider` attaches
`spanguard.api.build_span_processor(config, exporters=...)` (redact -> truncate -> one
batching queue per exporter), so a prompt is redacted before it leaves the process,
whichever exporter is configured. Batching matters: a synchronous exporter inside an
async server would stall every request while it talks to the backend.

Spans follow the OpenInference conventions (`openinference.span.kind`, `input.value`,
`retrieval.documents.N.document.*`, `tool.name`, ...), which is what Phoenix renders.
The tracer is an OpenInference `OITracer`, so `using_session` / `using_user` attributes
land on every span of a turn, ours and LiteLLM's alike.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from openinference.instrumentation import OITracer, TraceConfig
from openinference.semconv.trace import (
    DocumentAttributes,
    MessageAttributes,
    OpenInferenceMimeTypeValues,
    OpenInferenceSpanKindValues,
    SpanAttributes,
    ToolAttributes,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Span, Status, StatusCode, Tracer
from spanguard.pipeline.retrieval import RetrievedDocument, Retriever

from spanguard.config.model import (
    ConsoleExporterConfig,
    ExportersConfig,
    OtlpExporterConfig,
    SpanguardConfig,
)

TRACER_NAME = "spanguard.pipeline"
DEFAULT_SERVICE_NAME = "spanguard-pipeline"
_KIND = SpanAttributes.OPENINFERENCE_SPAN_KIND

ExportersArg = Sequence[SpanExporter] | Mapping[str, SpanExporter] | None


# --------------------------------------------------------------------------- providers

def build_tracer_provider(config: SpanguardConfig | None = None, *, exporters: ExportersArg = None,
                          service_name: str | None = None) -> TracerProvider:
    """A TracerProvider of our own whose only processor is spanguard's chain."""
    from spanguard.api import build_span_processor

    config = config or SpanguardConfig()
    name = service_name or config.pipeline.service_name or DEFAULT_SERVICE_NAME
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(build_span_processor(config, exporters=exporters))
    return provider


_instrument_lock = threading.Lock()
_instrumented_provider: TracerProvider | None = None


def instrument_litellm(provider: TracerProvider) -> None:
    """Point OpenInference's LiteLLM instrumentor at `provider`.

    The instrumentor patches the `litellm` module once per process and binds a tracer at
    that moment, so switching providers (a test, a second runtime) means uninstrumenting
    first. Spans of the one process-wide LiteLLM go to the provider set last.
    """
    global _instrumented_provider
    from spanguard.pipeline.llm_client import import_litellm

    import_litellm()
    from openinference.instrumentation.litellm import LiteLLMInstrumentor

    with _instrument_lock:
        if _instrumented_provider is provider:
            return
        instrumentor = LiteLLMInstrumentor()
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
        instrumentor.instrument(tracer_provider=provider, skip_dep_check=True)
        _instrumented_provider = provider


def get_tracer(provider: TracerProvider, name: str = TRACER_NAME) -> Tracer:
    """An OpenInference tracer: adds session/user/metadata context attributes to spans."""
    tracer: Tracer = OITracer(provider.get_tracer(name), config=TraceConfig())  # type: ignore[assignment]
    return tracer


def configure_tracing(endpoint: str | None = None, *, config: SpanguardConfig | None = None,
                      protocol: str = "http/protobuf", service_name: str | None = None,
                      exporters: ExportersArg = None, instrument: bool = True) -> TracerProvider:
    """The tutorial's one-liner: console when no endpoint, OTLP otherwise, spanguard in both.

    `config` supplies the redaction and truncation rules (defaults when None); its
    `exporters:` section is replaced by the endpoint choice unless `exporters=` is given.
    """
    base = config or SpanguardConfig()
    if exporters is None:
        if endpoint:
            sinks = ExportersConfig(otlp=OtlpExporterConfig(endpoint=endpoint, protocol=protocol),  # type: ignore[arg-type]
                                    batch=base.exporters.batch)
        else:
            sinks = ExportersConfig(console=ConsoleExporterConfig(), batch=base.exporters.batch)
        base = base.model_copy(update={"exporters": sinks})
    provider = build_tracer_provider(base, exporters=exporters, service_name=service_name)
    if instrument:
        instrument_litellm(provider)
    return provider


@dataclass
class InMemoryTracing:
    """A provider whose spans (after spanguard's processing) land in memory, for tests
    and for reading latencies back (`bench-pipeline`)."""

    provider: TracerProvider
    tracer: Tracer
    exporter: InMemorySpanExporter

    def spans(self) -> list[ReadableSpan]:
        """Finished spans, after flushing the batching queues."""
        self.provider.force_flush()
        return list(self.exporter.get_finished_spans())

    def clear(self) -> None:
        self.provider.force_flush()
        self.exporter.clear()

    def shutdown(self) -> None:
        self.provider.shutdown()


def build_in_memory_tracer(config: SpanguardConfig | None = None, *, instrument: bool = True,
                           extra_exporters: Mapping[str, SpanExporter] | None = None) -> InMemoryTracing:
    exporter = InMemorySpanExporter()
    provider = build_tracer_provider(config, exporters={"memory": exporter, **(extra_exporters or {})})
    if instrument:
        instrument_litellm(provider)
    return InMemoryTracing(provider=provider, tracer=get_tracer(provider), exporter=exporter)


def spans_to_dicts(spans: Sequence[ReadableSpan]) -> list[dict[str, Any]]:
    """Plain dicts (ids in hex, durations in ms) for printing, asserting and charting."""
    rows: list[dict[str, Any]] = []
    for span in spans:
        ctx = span.get_span_context()
        start, end = span.start_time or 0, span.end_time or 0
        attributes = dict(span.attributes or {})
        rows.append({
            "name": span.name,
            "kind": attributes.get(_KIND),
            "trace_id": f"{ctx.trace_id:032x}" if ctx else None,
            "span_id": f"{ctx.span_id:016x}" if ctx else None,
            "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
            "start_time_ns": start,
            "end_time_ns": end,
            "duration_ms": (end - start) / 1e6 if end and start else None,
            "status": span.status.status_code.name,
            "attributes": attributes,
            "events": [{"name": event.name, "attributes": dict(event.attributes or {})}
                       for event in span.events],
        })
    return rows


# --------------------------------------------------------------------------- record_*

def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _record_value(span: Span, value_key: str, mime_key: str, value: Any) -> None:
    """Text as it is; anything else as JSON, with the MIME type Phoenix renders by."""
    if isinstance(value, str):
        span.set_attribute(value_key, value)
        span.set_attribute(mime_key, OpenInferenceMimeTypeValues.TEXT.value)
    else:
        span.set_attribute(value_key, _json(value))
        span.set_attribute(mime_key, OpenInferenceMimeTypeValues.JSON.value)


def record_input(span: Span, value: Any) -> None:
    _record_value(span, SpanAttributes.INPUT_VALUE, SpanAttributes.INPUT_MIME_TYPE, value)


def record_output(span: Span, value: Any) -> None:
    _record_value(span, SpanAttributes.OUTPUT_VALUE, SpanAttributes.OUTPUT_MIME_TYPE, value)


def record_retrieval(span: Span, query: str, documents: Sequence[RetrievedDocument]) -> None:
    """RETRIEVER attributes: the query and `retrieval.documents.N.document.*`."""
    span.set_attribute(_KIND, OpenInferenceSpanKindValues.RETRIEVER.value)
    record_input(span, query)
    prefix = SpanAttributes.RETRIEVAL_DOCUMENTS
    for index, document in enumerate(documents):
        span.set_attribute(f"{prefix}.{index}.{DocumentAttributes.DOCUMENT_ID}", document.id)
        span.set_attribute(f"{prefix}.{index}.{DocumentAttributes.DOCUMENT_CONTENT}", document.content)
        span.set_attribute(f"{prefix}.{index}.{DocumentAttributes.DOCUMENT_SCORE}", float(document.score))
        span.set_attribute(f"{prefix}.{index}.{DocumentAttributes.DOCUMENT_METADATA}",
                           _json(document.metadata))


def record_generation(span: Span, *, model: str, input_messages: Sequence[Mapping[str, Any]],
                      output_text: str, prompt_tokens: int | None = None,
                      completion_tokens: int | None = None) -> None:
    """LLM attributes for a generation not made through LiteLLM (LiteLLM's own are automatic)."""
    span.set_attribute(_KIND, OpenInferenceSpanKindValues.LLM.value)
    span.set_attribute(SpanAttributes.LLM_MODEL_NAME, model)
    for index, message in enumerate(input_messages):
        base = f"{SpanAttributes.LLM_INPUT_MESSAGES}.{index}"
        span.set_attribute(f"{base}.{MessageAttributes.MESSAGE_ROLE}", str(message.get("role", "")))
        span.set_attribute(f"{base}.{MessageAttributes.MESSAGE_CONTENT}", str(message.get("content") or ""))
    base = f"{SpanAttributes.LLM_OUTPUT_MESSAGES}.0"
    span.set_attribute(f"{base}.{MessageAttributes.MESSAGE_ROLE}", "assistant")
    span.set_attribute(f"{base}.{MessageAttributes.MESSAGE_CONTENT}", output_text)
    record_input(span, list(input_messages))
    record_output(span, output_text)
    if prompt_tokens is not None:
        span.set_attribute(SpanAttributes.LLM_TOKEN_COUNT_PROMPT, prompt_tokens)
    if completion_tokens is not None:
        span.set_attribute(SpanAttributes.LLM_TOKEN_COUNT_COMPLETION, completion_tokens)
    if prompt_tokens is not None and completion_tokens is not None:
        span.set_attribute(SpanAttributes.LLM_TOKEN_COUNT_TOTAL, prompt_tokens + completion_tokens)


def record_tool_call(span: Span, *, name: str, arguments: Mapping[str, Any], output: Any,
                     description: str | None = None, json_schema: Mapping[str, Any] | None = None) -> None:
    """TOOL attributes; `json_schema` is the tool definition the model was offered, recorded
    only when known (a made-up schema would mislead whoever reads the trace)."""
    span.set_attribute(_KIND, OpenInferenceSpanKindValues.TOOL.value)
    span.set_attribute(SpanAttributes.TOOL_NAME, name)
    span.set_attribute(SpanAttributes.TOOL_PARAMETERS, _json(dict(arguments)))
    if description:
        span.set_attribute(SpanAttributes.TOOL_DESCRIPTION, description)
    if json_schema is not None:
        span.set_attribute(ToolAttributes.TOOL_JSON_SCHEMA, _json(dict(json_schema)))
    record_input(span, dict(arguments))
    record_output(span, output)


def record_agent_step(span: Span, *, step: int, action: str, detail: str | None = None) -> None:
    """A span event per agent step: what the model chose (tool call or answer) and when."""
    attributes: dict[str, str | int] = {"agent.step": step, "agent.action": action}
    if detail is not None:
        attributes["agent.detail"] = detail
    span.add_event("agent.step", attributes=attributes)


def record_error(span: Span, error: BaseException) -> None:
    """Exception event + ERROR status; the status text is the type, never the message."""
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, type(error).__name__))


@contextmanager
def openinference_span(tracer: Tracer, name: str, kind: OpenInferenceSpanKindValues) -> Iterator[Span]:
    """A current span of an OpenInference kind: OK when the block succeeds; otherwise the
    exception is recorded with ERROR status and re-raised."""
    with tracer.start_as_current_span(name, record_exception=False, set_status_on_exception=False,
                                      attributes={_KIND: kind.value}) as span:
        try:
            yield span
        except BaseException as error:
            if not isinstance(error, GeneratorExit):
                record_error(span, error)
            raise
        span.set_status(Status(StatusCode.OK))


# --------------------------------------------------------------------------- tutorial RAG

RetrieverLike = Retriever | Callable[[str, int], Sequence[RetrievedDocument]]
AnswerFn = Callable[[str, Sequence[RetrievedDocument]], str]


def _retrieve_with(retriever: RetrieverLike, query: str, top_k: int) -> list[RetrievedDocument]:
    if isinstance(retriever, Retriever):
        return list(retriever.retrieve(query, top_k))
    return list(retriever(query, top_k))


def traced_retrieval(retriever: RetrieverLike, tracer: Tracer, *, top_k: int = 4,
                     name: str = "retrieve") -> Callable[[str], list[RetrievedDocument]]:
    """Wrap a retriever (protocol object or `fn(query, top_k)`) in a RETRIEVER span."""

    def retrieve(query: str) -> list[RetrievedDocument]:
        with openinference_span(tracer, name, OpenInferenceSpanKindValues.RETRIEVER) as span:
            documents = _retrieve_with(retriever, query, top_k)
            record_retrieval(span, query, documents)
            return documents

    return retrieve


def traced_generation(answer_fn: AnswerFn, tracer: Tracer, *, model: str = "answer_fn",
                      name: str = "generate") -> AnswerFn:
    """Wrap `answer_fn(question, documents) -> str` in an LLM span."""

    def generate(question: str, documents: Sequence[RetrievedDocument]) -> str:
        with openinference_span(tracer, name, OpenInferenceSpanKindValues.LLM) as span:
            answer = answer_fn(question, documents)
            context = "\n\n".join(document.content for document in documents)
            record_generation(span, model=model, output_text=answer, input_messages=[
                {"role": "system", "content": context}, {"role": "user", "content": question}])
            return answer

    return generate


def build_traced_rag_pipeline(retriever: RetrieverLike, answer_fn: AnswerFn, tracer: Tracer, *,
                              top_k: int = 4, model: str = "answer_fn") -> Callable[[str], str]:
    """Retrieve then generate, under one CHAIN span: the plain (non-agent) RAG path."""
    retrieve = traced_retrieval(retriever, tracer, top_k=top_k)
    generate = traced_generation(answer_fn, tracer, model=model)

    def run(question: str) -> str:
        with openinference_span(tracer, "rag_pipeline", OpenInferenceSpanKindValues.CHAIN) as span:
            record_input(span, question)
            answer = generate(question, retrieve(question))
            record_output(span, answer)
            return answer

    return run
