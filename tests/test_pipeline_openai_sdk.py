"""OpenAI SDK auto-instrumentation as the tutorials set it up (`configure_tracing()`, then
`OpenAIInstrumentor().instrument()`), against an OpenAI-compatible stand-in on loopback:
the SDK's own call becomes an LLM span, redacted by spanguard on its way out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from support_pipeline import LoopbackHTTPServer, json_body

API_KEY = "sk-test-loopback-key"
EMAIL = "erika.musterfrau@example.org"

pytestmark = pytest.mark.usefixtures("restore_global_tracer_provider")


def _chat_completions(path: str, headers: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
    if path != "/v1/chat/completions" or headers.get("authorization") != f"Bearer {API_KEY}":
        return 404, "application/json", json_body({"error": {"message": "not found"}})
    request = json.loads(body)
    answer = f"Travel expenses are filed in the portal ({len(request['messages'][-1]['content'])} chars)."
    return (
        200,
        "application/json",
        json_body(
            {
                "id": "chatcmpl-standin",
                "object": "chat.completion",
                "created": 1,
                "model": request["model"],
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer}}
                ],
                "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21},
            }
        ),
    )


@pytest.fixture
def openai_stand_in() -> Iterator[LoopbackHTTPServer]:
    server = LoopbackHTTPServer(_chat_completions).start()
    yield server
    server.stop()


@pytest.fixture
def uninstrument_openai() -> Iterator[None]:
    yield
    from openinference.instrumentation.openai import OpenAIInstrumentor

    instrumentor = OpenAIInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()


@pytest.mark.usefixtures("uninstrument_openai")
def test_openai_sdk_calls_become_redacted_llm_spans(openai_stand_in: LoopbackHTTPServer) -> None:
    import openai
    from openinference.instrumentation.openai import OpenAIInstrumentor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from spanguard.pipeline.tracing import configure_tracing, get_tracer, spans_to_dicts

    memory = InMemorySpanExporter()
    provider = configure_tracing(exporters={"memory": memory}, instrument=["openai"])
    OpenAIInstrumentor().instrument()  # as the tutorial writes it: already pointed at our provider
    try:
        client = openai.OpenAI(base_url=f"{openai_stand_in.base_url}/v1", api_key=API_KEY, max_retries=0)
        with get_tracer("tutorial.auto").start_as_current_span("rag-pipeline"):
            response = client.chat.completions.create(
                model="gpt-4.1-mini",
                messages=[{"role": "user", "content": f"How do I file travel expenses? I am {EMAIL}"}],
            )
        provider.force_flush()
    finally:
        provider.shutdown()
    assert response.choices[0].message.content.startswith("Travel expenses are filed")
    spans = spans_to_dicts(memory.get_finished_spans())
    parent = next(s for s in spans if s["name"] == "rag-pipeline")
    [llm] = [s for s in spans if s["kind"] == "LLM"]
    assert llm["parent_id"] == parent["span_id"]
    attributes: dict[str, Any] = llm["attributes"]
    assert attributes["llm.model_name"] == "gpt-4.1-mini"
    assert attributes["llm.token_count.prompt"] == 12
    assert attributes["llm.token_count.completion"] == 9
    assert (
        attributes["llm.input_messages.0.message.content"]
        == "How do I file travel expenses? I am [REDACTED:email]"
    )
    assert attributes["llm.output_messages.0.message.content"].startswith("Travel expenses are filed")
    assert EMAIL not in json.dumps(spans, default=str)
    assert len(openai_stand_in.requests) == 1  # one real HTTP call, no retries
