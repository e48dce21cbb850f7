"""A real provider path: LiteLLM's `openai/` provider against an OpenAI-compatible
endpoint on loopback (a minimal stand-in server started here), traced end to end."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from support_pipeline import LoopbackHTTPServer, TracedPipeline, json_body

API_KEY = "sk-test-loopback-key"


def _completion(message: dict[str, Any], finish_reason: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-standin",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "stand-in-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }


def _sse(delta: dict[str, Any], finish_reason: str | None) -> bytes:
    chunk = {
        "id": "chatcmpl-standin",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "stand-in-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    return f"data: {json.dumps(chunk)}\n\n".encode()


def _sse_text(text: str) -> list[bytes]:
    pieces = [text[i : i + 12] for i in range(0, len(text), 12)]
    return [
        *(_sse({"role": "assistant", "content": piece}, None) for piece in pieces),
        _sse({}, "stop"),
        b"data: [DONE]\n\n",
    ]


def _sse_tool_call(call: dict[str, Any]) -> list[bytes]:
    arguments = call["function"]["arguments"]
    half = len(arguments) // 2  # arguments arrive in pieces, as real providers send them
    head = {
        "index": 0,
        "id": call["id"],
        "type": "function",
        "function": {"name": call["function"]["name"], "arguments": arguments[:half]},
    }
    tail = {"index": 0, "function": {"arguments": arguments[half:]}}
    return [
        _sse({"role": "assistant", "content": None, "tool_calls": [head]}, None),
        _sse({"tool_calls": [tail]}, None),
        _sse({}, "tool_calls"),
        b"data: [DONE]\n\n",
    ]


def stand_in_chat_completions(
    path: str, headers: dict[str, str], body: bytes
) -> tuple[int, str, bytes | list[bytes]]:
    """Search first; then answer with the first passage, via the `answer` tool (non-streaming)
    or as streamed text (streaming)."""
    if path != "/v1/chat/completions":
        return 404, "application/json", json_body({"error": {"message": "not found"}})
    if headers.get("authorization") != f"Bearer {API_KEY}":
        return 401, "application/json", json_body({"error": {"message": "bad key", "type": "auth"}})
    request = json.loads(body)
    messages = request["messages"]
    last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
    tool_results = [m for m in messages[last_user + 1 :] if m["role"] == "tool"]
    if not tool_results:
        call = {
            "id": "call_search_1",
            "type": "function",
            "function": {
                "name": "search_handbook",
                "arguments": json.dumps({"query": messages[last_user]["content"]}),
            },
        }
        if request.get("stream"):
            return 200, "text/event-stream", _sse_tool_call(call)
        return (
            200,
            "application/json",
            json_body(
                _completion({"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls")
            ),
        )
    passage = json.loads(tool_results[0]["content"])["results"][0]["content"]
    text = f"From the handbook: {passage}"
    if request.get("stream"):
        return 200, "text/event-stream", _sse_text(text)
    call = {
        "id": "call_answer_1",
        "type": "function",
        "function": {"name": "answer", "arguments": json.dumps({"text": text})},
    }
    return (
        200,
        "application/json",
        json_body(_completion({"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls")),
    )


@pytest.fixture
def stand_in_server() -> Iterator[LoopbackHTTPServer]:
    server = LoopbackHTTPServer(stand_in_chat_completions).start()
    yield server
    server.stop()


@pytest.fixture
def openai_agent(
    traced_pipeline: TracedPipeline, stand_in_server: LoopbackHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> Any:
    from spanguard.pipeline.agent import AgentSettings, HandbookAgent

    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    runtime = traced_pipeline.runtime
    return HandbookAgent(
        runtime.retriever,
        runtime.tracer,
        AgentSettings(model="openai/stand-in-model", api_base=f"{stand_in_server.base_url}/v1", timeout_s=10),
    )


def test_openai_provider_tool_loop_is_traced(
    openai_agent: Any, stand_in_server: LoopbackHTTPServer, traced_pipeline: TracedPipeline
) -> None:
    result = openai_agent.run(
        [{"role": "user", "content": "How long must passwords be?"}], session_id="session_openai"
    )

    assert result.answer.startswith("From the handbook: ")
    assert "at least 14 characters" in result.answer
    first, second = (json.loads(r.body) for r in stand_in_server.requests)
    assert len(stand_in_server.requests) == 2
    assert first["model"] == "stand-in-model"
    assert {tool["function"]["name"] for tool in first["tools"]} == {"search_handbook", "answer"}
    assert second["messages"][-1]["role"] == "tool"
    assert second["messages"][-1]["tool_call_id"] == "call_search_1"

    spans = traced_pipeline.span_dicts()
    assert len({s["trace_id"] for s in spans}) == 1
    llm = [s for s in spans if s["kind"] == "LLM"]
    assert len(llm) == 2
    for span in llm:
        assert "stand-in-model" in str(span["attributes"]["llm.model_name"])
        assert span["attributes"]["llm.input_messages.1.message.content"] == "How long must passwords be?"
        assert span["attributes"]["session.id"] == "session_openai"
    tools = sorted(s["attributes"]["tool.name"] for s in spans if s["kind"] == "TOOL")
    assert tools == ["answer", "search_handbook"]
    assert any(s["kind"] == "RETRIEVER" for s in spans)
    assert API_KEY not in json.dumps([s["attributes"] for s in spans], default=str)


def test_openai_provider_streaming_is_traced(openai_agent: Any, traced_pipeline: TracedPipeline) -> None:
    events = list(
        openai_agent.stream(
            [{"role": "user", "content": "What is the per diem for meals?"}],
            session_id="session_openai_stream",
        )
    )
    deltas = [e.text for e in events if e.type == "delta"]
    done = events[-1]
    assert done.result is not None and len(deltas) > 1
    assert "".join(d or "" for d in deltas) == done.result.answer
    llm = sorted(
        (s for s in traced_pipeline.span_dicts() if s["kind"] == "LLM"), key=lambda s: s["start_time_ns"]
    )
    assert llm[-1]["attributes"]["llm.output_messages.0.message.content"] == done.result.answer


def stand_in_embeddings(
    path: str, headers: dict[str, str], body: bytes
) -> tuple[int, str, bytes | list[bytes]]:
    """`/v1/embeddings` answering with the hashing embedder's vectors (64 dimensions)."""
    from spanguard.pipeline.embedding import HashingEmbedder

    if path != "/v1/embeddings" or headers.get("authorization") != f"Bearer {API_KEY}":
        return 404, "application/json", json_body({"error": {"message": "not found"}})
    request = json.loads(body)
    texts = request["input"] if isinstance(request["input"], list) else [request["input"]]
    vectors = HashingEmbedder(64).embed(texts)
    return (
        200,
        "application/json",
        json_body(
            {
                "object": "list",
                "model": request["model"],
                "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
                "usage": {"prompt_tokens": 3, "total_tokens": 3},
            }
        ),
    )


def test_litellm_embedding_model_by_name(
    tmp_path: Any, traced_pipeline: TracedPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spanguard.pipeline.corpus import bundled_handbook
    from spanguard.pipeline.embedding import LiteLLMEmbedder, build_embedder
    from spanguard.pipeline.retrieval import ChromaRetriever

    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    server = LoopbackHTTPServer(stand_in_embeddings).start()
    try:
        embedder = build_embedder("openai/text-embedding-stand-in", api_base=f"{server.base_url}/v1")
        assert isinstance(embedder, LiteLLMEmbedder)
        retriever = ChromaRetriever(tmp_path / "data", embedder)
        retriever.index_documents(bundled_handbook()[:1])
        [best] = retriever.retrieve("sick leave doctor's note certificate", 1)
    finally:
        server.stop()
    assert best.metadata["heading"].endswith("Sick leave")
    assert all(json.loads(r.body)["model"] == "text-embedding-stand-in" for r in server.requests)
    embedding_spans = [s for s in traced_pipeline.span_dicts() if s["kind"] == "EMBEDDING"]
    assert embedding_spans, "LiteLLM embedding calls are traced by the instrumentor"
    # vectors never leave the process: spanguard's truncation drops them by default
    assert not any(".embedding.vector" in key for s in embedding_spans for key in s["attributes"])


def test_openai_provider_behind_the_chat_service(
    openai_agent: Any, stand_in_server: LoopbackHTTPServer, traced_pipeline: TracedPipeline
) -> None:
    """The service's async paths (`acompletion`, streamed and not) against the same endpoint."""
    import dataclasses

    import httpx
    from support_pipeline import UvicornThread

    from spanguard.pipeline.service import create_app

    app = create_app(dataclasses.replace(traced_pipeline.runtime, agent=openai_agent))
    server = UvicornThread(app).start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=60) as http:
            question = {
                "messages": [{"role": "user", "content": "How long must passwords be?"}],
                "session_id": "session_openai_service",
            }
            reply = http.post("/chat", json=question)
            with http.stream("POST", "/chat/stream", json=question) as streamed:
                events = streamed.read().decode()
    finally:
        server.stop()
    assert reply.status_code == 200, reply.text
    answer = reply.json()["messages"][-1]["content"]
    assert answer.startswith("From the handbook: ") and "at least 14 characters" in answer
    assert "event: done" in events and events.count("event: delta") > 1
    assert len(stand_in_server.requests) == 4  # two model calls per turn, two turns
    assert sum(bool(json.loads(r.body).get("stream")) for r in stand_in_server.requests) == 2
    spans = traced_pipeline.span_dicts()
    assert len({s["trace_id"] for s in spans}) == 2
    assert sum(1 for s in spans if s["kind"] == "LLM") == 4
    assert {s["attributes"]["session.id"] for s in spans} == {"session_openai_service"}


def test_unreachable_embedding_provider_is_a_clear_error(
    tmp_path: Any, traced_pipeline: TracedPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from support_pipeline import free_port

    from spanguard.errors import SpanguardError
    from spanguard.pipeline.corpus import bundled_handbook
    from spanguard.pipeline.embedding import build_embedder
    from spanguard.pipeline.retrieval import ChromaRetriever

    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    retriever = ChromaRetriever(
        tmp_path / "data", build_embedder("openai/text-embedding-x", api_base=dead, timeout_s=5)
    )
    with pytest.raises(SpanguardError) as caught:
        retriever.index_documents(bundled_handbook()[:1])
    message = str(caught.value)
    assert message.startswith("embedding model 'openai/text-embedding-x' failed (")
    assert message.endswith("check the model name, api_base and the provider key in the environment")
    assert API_KEY not in message
    [span] = [s for s in traced_pipeline.span_dicts() if s["kind"] == "EMBEDDING"]
    assert span["status"] == "ERROR"
