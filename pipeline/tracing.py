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
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeAlias

from openinference.instrumentation import OITracer, TraceConfig
from openinference.semconv.trace import (
    DocumentAttributes,
    MessageAttributes,
    OpenInferenceMimeTypeValues,
    OpenInferenceSpanKindValues,
    SpanAttributes,
    ToolAttributes,
)
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Span, Status, StatusCode, Tracer
from opentelemetry.util._once import Once

from spanguard.config.model import (
    ConsoleExporterConfig,
    ExportersConfig,
    OtlpExporterConfig,
    SpanguardConfig,
)
from spanguard.errors import SpanguardError
from spanguard.exporters.endpoints import PROJECT_ATTRIBUTE
from spanguard.pipeline.retrieval import RetrievedDocument, Retriever
from spanguard.pipeline.tutorial_spans import (
    record_agent_step_span,
    record_generation_span,
    record_retrieval_span,
    result_id,
    result_score,
    result_text,
)

TRACER_NAME = "spanguard.pipeline"
DEFAULT_SERVICE_NAME = "spanguard-pipeline"
_KIND = SpanAttributes.OPENINFERENCE_SPAN_KIND
_log = logging.getLogger("spanguard.pipeline")

# The attribute names the tutorials import (`from ...tracing import ATTR_INPUT_VALUE`).
ATTR_INPUT_VALUE = SpanAttributes.INPUT_VALUE
ATTR_OUTPUT_VALUE = SpanAttributes.OUTPUT_VALUE
ATTR_LLM_MODEL_NAME = SpanAttributes.LLM_MODEL_NAME
ATTR_RETRIEVAL_DOCUMENTS = SpanAttributes.RETRIEVAL_DOCUMENTS

__all__ = [
    "ATTR_INPUT_VALUE",
    "ATTR_LLM_MODEL_NAME",
    "ATTR_OUTPUT_VALUE",
    "ATTR_RETRIEVAL_DOCUMENTS",
    "TRACER_NAME",
    "InMemoryTracing",
    "build_in_memory_tracer",
    "build_traced_rag_pipeline",
    "build_tracer_provider",
    "configure_tracing",
    "get_tracer",
    "instrument_libraries",
    "instrument_litellm",
    "instrument_openai",
    "openinference_span",
    "record_agent_step",
    "record_agent_step_span",
    "record_error",
    "record_generation",
    "record_generation_span",
    "record_input",
    "record_output",
    "record_retrieval",
    "record_retrieval_span",
    "record_tool_call",
    "spans_to_dataframe",
    "spans_to_dicts",
    "traced_generation",
    "traced_retrieval",
]

ExportersArg = Sequence[SpanExporter] | Mapping[str, SpanExporter] | None


# --------------------------------------------------------------------------- providers


def _resource(service_name: str, project: str | None) -> Resource:
    attributes: dict[str, str] = {"service.name": service_name}
    if project:
        attributes[PROJECT_ATTRIBUTE] = project
    return Resource.create(attributes)


def build_tracer_provider(
    config: SpanguardConfig | None = None,
    *,
    exporters: ExportersArg = None,
    service_name: str | None = None,
    project: str | None = None,
    synchronous: bool = False,
) -> TracerProvider:
    """A TracerProvider of our own whose only processor is spanguard's chain.

    `project` becomes the `openinference.project.name` resource attribute, the project
    Phoenix files the spans under."""
    from spanguard.api import build_span_processor

    config = config or SpanguardConfig()
    name = service_name or config.pipeline.service_name or DEFAULT_SERVICE_NAME
    provider = TracerProvider(resource=_resource(name, project))
    provider.add_span_processor(build_span_processor(config, exporters=exporters, synchronous=synchronous))
    return provider


_instrument_lock = threading.Lock()
_instrumented_providers: dict[str, TracerProvider] = {}


def _instrument(library: str, provider: TracerProvider, instrumentor: Any) -> None:
    """Point an OpenInference instrumentor at `provider`.

    An instrumentor patches its library once per process and binds a tracer at that
    moment, so switching providers (a test, a second runtime) means uninstrumenting
    first. Spans of the one process-wide library go to the provider set last.
    """
    with _instrument_lock:
        if _instrumented_providers.get(library) is provider:
            return
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
        instrumentor.instrument(tracer_provider=provider, skip_dep_check=True)
        _instrumented_providers[library] = provider


def instrument_litellm(provider: TracerProvider) -> None:
    """LiteLLM calls (the pipeline's own model calls) become LLM spans of `provider`."""
    from spanguard.pipeline.llm_client import import_litellm

    import_litellm()
    from openinference.instrumentation.litellm import LiteLLMInstrumentor

    _instrument("litellm", provider, LiteLLMInstrumentor())


def instrument_openai(provider: TracerProvider) -> None:
    """OpenAI SDK calls (`client.chat.completions.create`, embeddings, responses) become
    LLM / EMBEDDING spans of `provider`, as in the tutorials.

    LiteLLM talks to OpenAI models through this SDK, so with both instrumented a LiteLLM
    call to an OpenAI model shows as a LiteLLM span with the SDK's span under it."""
    from openinference.instrumentation.openai import OpenAIInstrumentor

    _instrument("openai", provider, OpenAIInstrumentor())


INSTRUMENTORS: dict[str, Callable[[TracerProvider], None]] = {
    "litellm": instrument_litellm,
    "openai": instrument_openai,
}


def instrument_libraries(
    provider: TracerProvider, libraries: Sequence[str] = ("litellm", "openai")
) -> list[str]:
    """Instrument each named library that is installed; the names instrumented."""
    import importlib.util

    done: list[str] = []
    for library in libraries:
        if library not in INSTRUMENTORS:
            raise ValueError(f"no instrumentor for {library!r}; known: {', '.join(INSTRUMENTORS)}")
        if importlib.util.find_spec(library) is None:
            continue
        INSTRUMENTORS[library](provider)
        done.append(library)
    return done


def get_tracer(name: str | TracerProvider = TRACER_NAME, provider: TracerProvider | None = None) -> Tracer:
    """An OpenInference tracer (adds session/user/metadata context attributes to spans).

    `get_tracer("tutorial.manual")` uses the global provider (set by `configure_tracing`),
    as in the tutorials; `get_tracer(name, provider)` a given one. `get_tracer(provider)`
    is the older spelling of `get_tracer(TRACER_NAME, provider)`."""
    if isinstance(name, TracerProvider):
        provider, name = name, TRACER_NAME
    inner = provider.get_tracer(name) if provider is not None else trace.get_tracer(name)
    tracer: Tracer = OITracer(inner, config=TraceConfig())  # type: ignore[assignment]
    return tracer


_global_lock = threading.Lock()
_installed_global: TracerProvider | None = None


def _set_global_provider(provider: TracerProvider) -> bool:
    """Make `provider` the global one. OpenTelemetry allows that once per process; a
    provider that `configure_tracing` installed earlier may be replaced (a notebook cell
    run twice, a test), a provider someone else installed (Phoenix `register()`) is kept."""
    global _installed_global
    with _global_lock:
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider) and current is not _installed_global:
            _log.warning(
                "configure_tracing: a global tracer provider is already set by other code; "
                "keeping it (use the returned provider explicitly)"
            )
            return False
        if _installed_global is not None:
            # the SDK's set-once guard; resetting it is what OpenTelemetry's own test utilities do
            trace._TRACER_PROVIDER_SET_ONCE = Once()
            trace._TRACER_PROVIDER = None
        trace.set_tracer_provider(provider)
        _installed_global = provider
        return True


def configure_tracing(
    endpoint: str | None = None,
    project: str | None = None,
    *,
    config: SpanguardConfig | None = None,
    protocol: str = "http/protobuf",
    service_name: str | None = None,
    exporters: ExportersArg = None,
    instrument: bool | Sequence[str] = True,
    set_global: bool = True,
) -> TracerProvider:
    """The tutorial's one-liner: console when no endpoint, OTLP otherwise, spanguard in both.

    Sets the global provider (so `trace.get_tracer(...)` and instrumentors set up without
    a provider record through spanguard) and returns it. `project` is the Phoenix project
    (`PHOENIX_PROJECT_NAME` when None). `config` supplies the redaction and truncation
    rules (defaults when None); its `exporters:` section is replaced by the endpoint
    choice unless `exporters=` is given. `instrument`: True = LiteLLM and the OpenAI SDK
    where installed, a list = those libraries, False = none.
    """
    base = config or SpanguardConfig()
    if exporters is None:
        if endpoint:
            sinks = ExportersConfig(
                otlp=OtlpExporterConfig(endpoint=endpoint, protocol=protocol),  # type: ignore[arg-type]
                batch=base.exporters.batch,
            )
        else:
            sinks = ExportersConfig(console=ConsoleExporterConfig(), batch=base.exporters.batch)
        base = base.model_copy(update={"exporters": sinks})
    project = project or os.environ.get("PHOENIX_PROJECT_NAME") or None
    provider = build_tracer_provider(base, exporters=exporters, service_name=service_name, project=project)
    if set_global:
        _set_global_provider(provider)
    if instrument:
        libraries = ("litellm", "openai") if instrument is True else tuple(instrument)
        instrument_libraries(provider, libraries)
    return provider


@dataclass
class InMemoryTracing:
    """A provider whose spans (after spanguard's processing) land in memory, exported
    synchronously: `exporter.get_finished_spans()` right after a span has it.

    Unpacks as the tutorials write it: `tracer, exporter = build_in_memory_tracer()`."""

    provider: TracerProvider
    tracer: Tracer
    exporter: InMemorySpanExporter

    def __iter__(self) -> Iterator[Any]:
        return iter((self.tracer, self.exporter))

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def clear(self) -> None:
        self.exporter.clear()

    def shutdown(self) -> None:
        self.provider.shutdown()


def build_in_memory_tracer(
    config: SpanguardConfig | None = None,
    *,
    name: str = TRACER_NAME,
    instrument: bool = False,
    project: str | None = None,
) -> InMemoryTracing:
    """A fresh provider + in-memory exporter behind spanguard's redaction chain.

    `instrument=True` also points LiteLLM and the OpenAI SDK at it (off by default:
    instrumentation is process-wide, and a throwaway tracer should not capture it)."""
    exporter = InMemorySpanExporter()
    provider = build_tracer_provider(
        config, exporters={"memory": exporter}, project=project, synchronous=True
    )
    if instrument:
        instrument_libraries(provider)
    return InMemoryTracing(provider=provider, tracer=get_tracer(name, provider), exporter=exporter)


def spans_to_dicts(spans: Sequence[ReadableSpan]) -> list[dict[str, Any]]:
    """Plain dicts (ids in hex, durations in ms) for printing, asserting and charting.

    Keys: name, kind, trace_id, span_id, parent_id, start_time_ns, end_time_ns,
    duration_ms (rounded to 3 places), status ('UNSET', 'OK', 'ERROR'), attributes, events."""
    rows: list[dict[str, Any]] = []
    for span in spans:
        ctx = span.get_span_context()
        start, end = span.start_time or 0, span.end_time or 0
        attributes = dict(span.attributes or {})
        rows.append(
            {
                "name": span.name,
                "kind": attributes.get(_KIND),
                "trace_id": f"{ctx.trace_id:032x}" if ctx else None,
                "span_id": f"{ctx.span_id:016x}" if ctx else None,
                "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
                "start_time_ns": start,
                "end_time_ns": end,
                "duration_ms": round((end - start) / 1e6, 3) if end and start else None,
                "status": span.status.status_code.name,
                "attributes": attributes,
                "events": [
                    {"name": event.name, "attributes": dict(event.attributes or {})} for event in span.events
                ],
            }
        )
    return rows


def spans_to_dataframe(spans: Sequence[ReadableSpan]) -> Any:
    """A pandas DataFrame, one row per span: the `spans_to_dicts` columns (less the
    nested ones) plus one `attributes.KEY` column per attribute, as Phoenix's own
    span DataFrames have. Needs pandas (`pip install 'spanguard[pipeline]'`)."""
    try:
        import pandas as pd
    except ImportError:
        raise SpanguardError("spans_to_dataframe needs pandas: install spanguard[pipeline]") from None
    records = []
    for row in spans_to_dicts(spans):
        flat = {key: value for key, value in row.items() if key not in ("attributes", "events")}
        flat.update({f"attributes.{key}": value for key, value in row["attributes"].items()})
        records.append(flat)
    return pd.DataFrame.from_records(records)


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


def record_retrieval(span: Span, query: str, documents: Sequence[RetrievedDocument | Any]) -> None:
    """RETRIEVER attributes: the query and `retrieval.documents.N.document.*` (documents
    are `RetrievedDocument`s or any results with `text`/`content`, `score`, `metadata`)."""
    span.set_attribute(_KIND, OpenInferenceSpanKindValues.RETRIEVER.value)
    record_input(span, query)
    prefix = SpanAttributes.RETRIEVAL_DOCUMENTS
    for index, document in enumerate(documents):
        span.set_attribute(f"{prefix}.{index}.{DocumentAttributes.DOCUMENT_ID}", result_id(document, index))
        span.set_attribute(f"{prefix}.{index}.{DocumentAttributes.DOCUMENT_CONTENT}", result_text(document))
        score = result_score(document)
        if score is not None:
            span.set_attribute(f"{prefix}.{index}.{DocumentAttributes.DOCUMENT_SCORE}", score)
        metadata = getattr(document, "metadata", None)
        if metadata:
            span.set_attribute(f"{prefix}.{index}.{DocumentAttributes.DOCUMENT_METADATA}", _json(metadata))


def record_generation(
    span: Span,
    *,
    model: str,
    input_messages: Sequence[Mapping[str, Any]],
    output_text: str,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
) -> None:
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


def record_tool_call(
    span: Span,
    *,
    name: str,
    arguments: Mapping[str, Any],
    output: Any,
    description: str | None = None,
    json_schema: Mapping[str, Any] | None = None,
) -> None:
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
    with tracer.start_as_current_span(
        name, record_exception=False, set_status_on_exception=False, attributes={_KIND: kind.value}
    ) as span:
        try:
            yield span
        except BaseException as error:
            if not isinstance(error, GeneratorExit):
                record_error(span, error)
            raise
        span.set_status(Status(StatusCode.OK))


# --------------------------------------------------------------------------- tutorial RAG

# A retriever: a `Retriever` (spanguard's protocol) or the tutorials' `fn(query, top_k=...)`;
# results are `RetrievedDocument`s or any objects with `text`/`content` and `score`.
RetrieverLike: TypeAlias = Retriever | Callable[..., Sequence[Any]]
# An answer function gets the question and the passages as strings, as in the tutorials:
# `answer_with_context(question, context_chunks, model=...)` (`model=` only if it takes one).
AnswerFn: TypeAlias = Callable[..., str]
ContextFormatter: TypeAlias = Callable[[Any], str]


def _retrieve_with(retriever: RetrieverLike, query: str, top_k: int) -> list[Any]:
    if isinstance(retriever, Retriever):
        return list(retriever.retrieve(query, top_k))
    return list(retriever(query, top_k=top_k))


def _accepts_model(fn: Callable[..., Any]) -> bool:
    import inspect

    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "model" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def traced_retrieval(
    retriever: RetrieverLike, tracer: Tracer, *, top_k: int = 4, name: str = "retrieval"
) -> Callable[..., list[Any]]:
    """Wrap a retriever in a RETRIEVER span; the wrapper is called like the tutorials'
    retrievers, `traced(query, top_k=3)` (`top_k` defaults to the one given here), and
    returns the retriever's own results. An empty query returns no results."""

    def retrieve(query: str, top_k: int = top_k) -> list[Any]:
        with openinference_span(tracer, name, OpenInferenceSpanKindValues.RETRIEVER) as span:
            results = _retrieve_with(retriever, query, top_k) if query.strip() else []
            record_retrieval(span, query, results)
            span.set_attribute("retrieval.top_k", int(top_k))
            span.set_attribute("retrieval.result_count", len(results))
            scores = [score for score in (result_score(r) for r in results) if score is not None]
            if scores:
                span.set_attribute("retrieval.top_score", max(scores))
            return results

    return retrieve


def traced_generation(
    answer_fn: AnswerFn,
    tracer: Tracer,
    *,
    model_name: str = "answer_fn",
    name: str = "generation",
    context_of: ContextFormatter = result_text,
) -> AnswerFn:
    """Wrap `answer_fn(question, context_chunks[, model=])` in an LLM span. The wrapper
    takes the question and the passages (strings or retrieval results; `context_of`
    turns each into the string `answer_fn` gets)."""
    pass_model = _accepts_model(answer_fn)

    def generate(question: str, passages: Sequence[Any]) -> str:
        with openinference_span(tracer, name, OpenInferenceSpanKindValues.LLM) as span:
            context = [context_of(passage) for passage in passages]
            answer = str(
                answer_fn(question, context, model=model_name) if pass_model else answer_fn(question, context)
            )
            record_generation(
                span,
                model=model_name,
                output_text=answer,
                input_messages=[
                    {"role": "system", "content": "\n\n".join(context)},
                    {"role": "user", "content": question},
                ],
            )
            span.set_attribute("generation.context_chunk_count", len(context))
            span.set_attribute("generation.answer_word_count", len(answer.split()))
            return answer

    return generate


def build_traced_rag_pipeline(
    retriever: RetrieverLike,
    answer_fn: AnswerFn,
    tracer: Tracer,
    *,
    top_k: int = 4,
    model_name: str = "answer_fn",
    context_of: ContextFormatter = result_text,
    name: str = "rag-pipeline",
) -> Callable[[str], str]:
    """Retrieve then generate, under one CHAIN span: the plain (non-agent) RAG path.
    Spans: `rag-pipeline` (CHAIN) over `retrieval` (RETRIEVER) and `generation` (LLM)."""
    retrieve = traced_retrieval(retriever, tracer, top_k=top_k)
    generate = traced_generation(answer_fn, tracer, model_name=model_name, context_of=context_of)

    def run(question: str) -> str:
        with openinference_span(tracer, name, OpenInferenceSpanKindValues.CHAIN) as span:
            record_input(span, question)
            answer = generate(question, retrieve(question))
            record_output(span, answer)
            return answer

    return run
