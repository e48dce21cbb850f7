"""Real SDK spans for exporter tests: a RAG-shaped trace with planted secrets.

Not a fixture module (nothing to register): import the helpers directly,
`from support_spans import make_rag_trace, PLANTED_SECRETS`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

SECRET_EMAIL = "alice.liddell@wonderland-mail.com"
SECRET_CARD = "4111 1111 1111 1111"  # Luhn-valid test card
SECRET_AWS_KEY = "AKIAIOSFODNN7EXAMPLQ"
PLANTED_SECRETS = (SECRET_EMAIL, SECRET_CARD, SECRET_AWS_KEY)
LONG_DOCUMENT_CHARS = 60_000


@dataclass
class RagTrace:
    trace_id: str  # 32 hex chars
    root_span_id: str  # 16 hex chars
    retriever_span_id: str
    llm_span_id: str


def make_rag_trace(provider: TracerProvider, *, question_suffix: str = "") -> RagTrace:
    """CHAIN root with RETRIEVER and LLM children, OpenInference attributes, secrets planted.

    The retrieved document is LONG_DOCUMENT_CHARS long (so truncation has work to do)
    and holds the AWS key near its start (so redaction must catch it before the cut).
    """
    tracer = provider.get_tracer("spanguard.tests", "1.0")
    question = f"My card is {SECRET_CARD}, mail me at {SECRET_EMAIL}. What is my limit?{question_suffix}"
    filler = "lorem ipsum " * (LONG_DOCUMENT_CHARS // 12 + 1)
    document = (f"Account notes. Key {SECRET_AWS_KEY} rotates monthly. " + filler)[:LONG_DOCUMENT_CHARS]
    with tracer.start_as_current_span("rag.query", kind=SpanKind.SERVER) as root:
        root.set_attribute("openinference.span.kind", "CHAIN")
        root.set_attribute("input.value", question)
        root.set_attribute("input.mime_type", "text/plain")
        with tracer.start_as_current_span("retrieve") as retriever:
            retriever.set_attribute("openinference.span.kind", "RETRIEVER")
            retriever.set_attribute("input.value", question)
            retriever.set_attribute("retrieval.documents.0.document.id", "doc-7")
            retriever.set_attribute("retrieval.documents.0.document.content", document)
            retriever.set_attribute("retrieval.documents.0.document.score", 0.82)
        with tracer.start_as_current_span("llm.completion", kind=SpanKind.CLIENT) as llm:
            llm.set_attribute("openinference.span.kind", "LLM")
            llm.set_attribute("llm.model_name", "spanguard-local/extractive")
            llm.set_attribute("llm.input_messages.0.message.role", "user")
            llm.set_attribute("llm.input_messages.0.message.content", question)
            llm.set_attribute(
                "input.value",
                json.dumps({"messages": [{"role": "user", "content": question}]}),
            )
            llm.set_attribute("input.mime_type", "application/json")
            llm.set_attribute("output.value", "Your limit is 5000.")
            llm.set_attribute("llm.token_count.prompt", 42)
            llm.set_attribute("llm.token_count.completion", 7)
            llm.add_event("log", {"message": f"sent reply to {SECRET_EMAIL}"})
            llm.set_status(Status(StatusCode.OK))
        root.set_attribute("output.value", "Your limit is 5000.")
    return RagTrace(
        trace_id=f"{root.get_span_context().trace_id:032x}",
        root_span_id=f"{root.get_span_context().span_id:016x}",
        retriever_span_id=f"{retriever.get_span_context().span_id:016x}",
        llm_span_id=f"{llm.get_span_context().span_id:016x}",
    )


def provider_with(processor: SpanProcessor, service: str = "spanguard-tests") -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(processor)
    return provider


def finished_spans(count: int = 1, **attributes: str | int) -> list[ReadableSpan]:
    """`count` real finished spans (one trace each) with the given attributes."""
    memory = InMemorySpanExporter()
    provider = provider_with(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("spanguard.tests")
    for index in range(count):
        with tracer.start_as_current_span(f"span-{index}") as span:
            span.set_attribute("index", index)
            for key, value in attributes.items():
                span.set_attribute(key, value)
    provider.shutdown()
    return list(memory.get_finished_spans())
