"""The chat service over a real uvicorn server on a free loopback port."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support_pipeline import TracedPipeline, UvicornThread, free_port

from spanguard.errors import SpanguardError

SESSION_RE = re.compile(r"^session_\d+_[0-9a-f]{8}$")


@pytest.fixture(scope="module")
def chat_server(_session_pipeline: TracedPipeline) -> Iterator[UvicornThread]:
    from spanguard.pipeline.service import create_app

    server = UvicornThread(create_app(_session_pipeline.runtime)).start()
    yield server
    server.stop()


@pytest.fixture
def client(chat_server: UvicornThread, traced_pipeline: TracedPipeline) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=chat_server.base_url, timeout=30) as http:
        yield http


def _sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.strip().split("\n\n"):
        name = re.search(r"^event: (.*)$", block, re.M)
        data = re.search(r"^data: (.*)$", block, re.M)
        assert name and data, block
        events.append((name.group(1), json.loads(data.group(1))))
    return events


def test_healthz_and_page(client: httpx.Client) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "New conversation" in page.text
    assert '"session_" + Date.now()' in page.text  # the page makes session_<timestamp>_<random>


def test_session_id_round_trip_over_two_turns(client: httpx.Client, traced_pipeline: TracedPipeline) -> None:
    question = {"role": "user", "content": "How long must passwords be?"}
    first = client.post("/chat", json={"messages": [question]})
    assert first.status_code == 200, first.text
    body = first.json()
    session_id = body["session_id"]
    assert SESSION_RE.match(session_id)
    assert [m["role"] for m in body["messages"]] == ["user", "assistant"]
    assert "14 characters" in body["messages"][-1]["content"]

    follow_up = [*body["messages"], {"role": "user", "content": "And how long does probation last?"}]
    second = client.post("/chat", json={"messages": follow_up, "session_id": session_id})
    assert second.status_code == 200, second.text
    assert second.json()["session_id"] == session_id
    assert len(second.json()["messages"]) == 4
    assert "six months" in second.json()["messages"][-1]["content"]

    spans = traced_pipeline.span_dicts()
    agents = [s for s in spans if s["kind"] == "AGENT"]
    assert len(agents) == 2 and len({s["trace_id"] for s in agents}) == 2
    assert {s["attributes"]["session.id"] for s in spans} == {session_id}


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        ({"messages": [{"role": "user", "content": "   "}]}, 422, "question is empty"),
        ({"messages": []}, 422, "messages must not be empty"),
        (
            {"messages": [{"role": "user", "content": "hi"}], "session_id": 12345},
            422,
            "session_id must be a string",
        ),
        ({"messages": [{"role": "user", "content": 7}]}, 422, "messages.0.content must be a string"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, 422, "must be 'user' or 'assistant'"),
        ({"messages": [{"role": "assistant", "content": "hi"}]}, 422, "must end with a user message"),
        ({"session_id": "session_1_abc"}, 422, "messages is required"),
        ({"messages": [{"role": "user", "content": "x" * 9000}]}, 413, "longer than 8000 characters"),
        ({"messages": [{"role": "user", "content": "hi"}] * 101}, 413, "more than 100 messages"),
        ([1, 2, 3], 400, "must be a JSON object"),
        (
            {"messages": [{"role": "user", "content": "hi"}], "session_id": ""},
            422,
            "session_id must not be empty",
        ),
        (
            {"messages": [{"role": "user", "content": "hi"}], "session_id": "s" * 201},
            422,
            "session_id is too long",
        ),
        ({"messages": [{"role": "user", "content": "hi"}], "user_id": 7}, 422, "user_id must be a string"),
        ({"messages": "hello"}, 422, "messages must be a list"),
        ({"messages": ["hello"]}, 422, "messages.0 must be an object"),
    ],
)
def test_bad_requests_get_clear_4xx(
    client: httpx.Client, traced_pipeline: TracedPipeline, payload: Any, status: int, fragment: str
) -> None:
    response = client.post("/chat", json=payload)
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]
    assert traced_pipeline.spans() == []  # refused before any model call


def test_malformed_json_and_values_never_echoed(client: httpx.Client) -> None:
    response = client.post(
        "/chat",
        content=b'{"messages": [ {"role": "user", "content": "secret-123',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json() == {"error": "the request body is not valid JSON"}
    leaked = client.post(
        "/chat", json={"messages": [{"role": "user", "content": "hi"}], "session_id": ["hunter2"]}
    )
    assert leaked.status_code == 422 and "hunter2" not in leaked.text


def test_streaming_turn(client: httpx.Client, traced_pipeline: TracedPipeline) -> None:
    with client.stream(
        "POST",
        "/chat/stream",
        json={
            "messages": [{"role": "user", "content": "What is the home office equipment budget?"}],
            "session_id": "session_1700000000000_abcdef01",
        },
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _sse_events(response.read().decode())
    names = [name for name, _ in events]
    assert names[0] == "session" and names[-1] == "done"
    assert "tool" in names and names.count("delta") > 1
    final = events[-1][1]
    answer = final["messages"][-1]["content"]
    assert "".join(data["text"] for name, data in events if name == "delta") == answer
    assert final["session_id"] == "session_1700000000000_abcdef01"
    spans = traced_pipeline.span_dicts()
    assert {s["attributes"]["session.id"] for s in spans} == {"session_1700000000000_abcdef01"}
    assert {"AGENT", "LLM", "TOOL", "RETRIEVER"} <= {s["kind"] for s in spans}


def test_streaming_refuses_bad_input_before_streaming(client: httpx.Client) -> None:
    response = client.post("/chat/stream", json={"messages": [{"role": "user", "content": ""}]})
    assert response.status_code == 422


def test_provider_failure_is_clear_recorded_and_service_stays_up(
    traced_pipeline: TracedPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spanguard.pipeline.agent import AgentSettings, HandbookAgent
    from spanguard.pipeline.service import create_app

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    runtime = traced_pipeline.runtime
    broken_agent = HandbookAgent(
        runtime.retriever,
        runtime.tracer,
        AgentSettings(model="openai/gpt-4o-mini", api_base=f"http://127.0.0.1:{free_port()}/v1", timeout_s=5),
    )
    server = UvicornThread(create_app(dataclasses.replace(runtime, agent=broken_agent))).start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=60) as http:
            question = {"messages": [{"role": "user", "content": "How long must passwords be?"}]}
            failed = http.post("/chat", json=question)
            assert failed.status_code == 502
            assert "openai/gpt-4o-mini" in failed.json()["error"]
            assert "Traceback" not in failed.text
            with http.stream("POST", "/chat/stream", json=question) as streamed:
                events = _sse_events(streamed.read().decode())
            assert events[-1][0] == "error"
            assert http.get("/healthz").status_code == 200  # still serving
        agent_spans = [s for s in traced_pipeline.span_dicts() if s["kind"] == "AGENT"]
        assert len(agent_spans) == 2 and all(s["status"] == "ERROR" for s in agent_spans)
    finally:
        server.stop()


def test_oversized_body_is_refused_before_parsing(client: httpx.Client) -> None:
    from spanguard.pipeline.service import MAX_BODY_BYTES

    body = json.dumps({"messages": [{"role": "user", "content": "x" * (MAX_BODY_BYTES + 10)}]})
    response = client.post("/chat", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "larger than" in response.json()["error"]


def test_oversized_chunked_body_is_refused_too(client: httpx.Client, traced_pipeline: TracedPipeline) -> None:
    """No Content-Length to check up front: the limit is enforced while the body arrives."""
    from spanguard.pipeline.service import MAX_BODY_BYTES

    piece = b"x" * 65536
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"messages": [{"role": "user", "content": "'
        while sent < 4 * MAX_BODY_BYTES:
            sent += len(piece)
            yield piece
        yield b'"}]}'

    response = client.post("/chat", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers  # really chunked
    assert response.status_code == 413, response.text
    assert response.json() == {"error": f"the request body is larger than {MAX_BODY_BYTES} bytes"}
    assert traced_pipeline.spans() == []
    assert client.get("/healthz").status_code == 200


def test_text_that_is_not_unicode_gets_a_4xx(client: httpx.Client, traced_pipeline: TracedPipeline) -> None:
    """JSON can carry a lone surrogate (\\ud800) that UTF-8 cannot encode: refused up front,
    not a 500 when the reply (or a span) is encoded."""
    for field, body in [
        ("messages.0.content", b'{"messages": [{"role": "user", "content": "leave? \\ud800"}]}'),
        ("session_id", b'{"messages": [{"role": "user", "content": "hi"}], "session_id": "s\\udfff"}'),
    ]:
        for path in ("/chat", "/chat/stream"):
            response = client.post(path, content=body, headers={"content-type": "application/json"})
            assert response.status_code == 422, (path, response.text)
            assert response.json()["error"].startswith(f"{field} is not valid Unicode text")
    assert traced_pipeline.spans() == []


def test_unknown_paths_and_methods_get_the_same_error_shape(client: httpx.Client) -> None:
    assert client.get("/nope").json() == {"error": "Not Found"}
    assert client.get("/chat").status_code == 405
    assert client.get("/chat").json() == {"error": "Method Not Allowed"}
    form = client.post(
        "/chat", content=b'{"messages": []}', headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert form.status_code == 400 and "Content-Type: application/json" in form.json()["error"]


class _FailingRetriever:
    """A search backend that fails the way a remote embedder does, or with a plain bug."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def retrieve(self, query: str, top_k: int) -> list[Any]:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        (
            SpanguardError("embedding model 'openai/e' failed (APIConnectionError)"),
            502,
            "embedding model 'openai/e' failed (APIConnectionError)",
        ),
        (
            RuntimeError("index corrupt near 'jane.doe@example.com'"),
            500,
            "the turn failed unexpectedly (RuntimeError); the trace records the error",
        ),
    ],
)
def test_a_failing_tool_fails_the_turn_cleanly_and_the_service_stays_up(
    traced_pipeline: TracedPipeline,
    caplog: pytest.LogCaptureFixture,
    error: Exception,
    status: int,
    message: str,
) -> None:
    from spanguard.pipeline.agent import HandbookAgent
    from spanguard.pipeline.service import create_app

    runtime = traced_pipeline.runtime
    agent = HandbookAgent(_FailingRetriever(error), runtime.tracer, runtime.agent.settings)
    server = UvicornThread(create_app(dataclasses.replace(runtime, agent=agent))).start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=60) as http:
            question = {
                "messages": [{"role": "user", "content": "How long must passwords be?"}],
                "session_id": "session_1_0badc0de",
            }
            failed = http.post("/chat", json=question)
            assert failed.status_code == status, failed.text
            assert failed.json() == {"error": message, "session_id": "session_1_0badc0de"}
            with http.stream("POST", "/chat/stream", json=question) as streamed:
                assert streamed.status_code == 200
                events = _sse_events(streamed.read().decode())
            assert events[-1] == ("error", {"error": message, "session_id": "session_1_0badc0de"})
            assert http.get("/healthz").status_code == 200
    finally:
        server.stop()
    assert "jane.doe" not in caplog.text  # an exception's text is never logged
    spans = traced_pipeline.span_dicts()
    agents = [s for s in spans if s["kind"] == "AGENT"]
    assert len(agents) == 2 and all(s["status"] == "ERROR" for s in agents)
    retrievers = [s for s in spans if s["kind"] == "RETRIEVER"]
    assert len(retrievers) == 2 and all(s["status"] == "ERROR" for s in retrievers)
    assert all(e["name"] == "exception" for s in retrievers for e in s["events"])


def test_concurrent_sessions_keep_their_own_traces(
    chat_server: UvicornThread, traced_pipeline: TracedPipeline
) -> None:
    import asyncio

    questions = [
        "How long must passwords be?",
        "How long does probation last?",
        "What is the per diem for meals outside Europe?",
        "How big is the learning budget?",
    ]

    async def ask_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=chat_server.base_url, timeout=60) as http:
            return list(
                await asyncio.gather(
                    *(
                        http.post(
                            "/chat/stream" if i % 2 else "/chat",
                            json={
                                "messages": [{"role": "user", "content": q}],
                                "session_id": f"session_0_{i:08x}",
                            },
                        )
                        for i, q in enumerate(questions)
                    )
                )
            )

    responses = asyncio.run(ask_all())
    assert [r.status_code for r in responses] == [200] * len(questions)
    spans = traced_pipeline.span_dicts()
    sessions_by_trace: dict[str, set[str]] = {}
    for span in spans:
        sessions_by_trace.setdefault(span["trace_id"], set()).add(span["attributes"]["session.id"])
    assert len(sessions_by_trace) == len(questions)
    assert all(len(sessions) == 1 for sessions in sessions_by_trace.values())
    assert set().union(*sessions_by_trace.values()) == {f"session_0_{i:08x}" for i in range(len(questions))}
    assert sum(1 for s in spans if s["kind"] == "AGENT") == len(questions)
