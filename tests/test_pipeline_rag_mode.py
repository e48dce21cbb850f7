"""The plain RAG path and a YAML-selected retriever, through `spanguard ask`: `mode: rag`,
the fallback when a model answers without calling a tool (an OpenAI-compatible stand-in
on loopback that never calls tools), and `pipeline.retriever: module:factory`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from support_pipeline import LoopbackHTTPServer, json_body

API_KEY = "sk-test-loopback-key"
EMAIL = "jan.jansen@example.org"

MY_SEARCH = """
from dataclasses import dataclass

@dataclass
class Result:
    chunk_id: str
    text: str
    score: float

CALLS = []

def make_retriever(config):
    def search(query, top_k=3):
        CALLS.append((query, top_k, config.top_k))
        return [Result("ops-1", "Night shifts end at 6 am and are paid at 125 percent.", 0.83)][:top_k]
    return search
"""


def _spans(trace_file: Path) -> list[dict[str, Any]]:
    """Spans of the file exporter's OTLP/JSON lines, attributes as a plain dict."""
    spans: list[dict[str, Any]] = []
    for line in trace_file.read_text(encoding="utf-8").splitlines():
        for resource in json.loads(line)["resourceSpans"]:
            for scope in resource["scopeSpans"]:
                for span in scope["spans"]:
                    values = {a["key"]: next(iter(a["value"].values())) for a in span.get("attributes", [])}
                    spans.append({**span, "attrs": values})
    return spans


def _write_config(tmp_path: Path, pipeline: str) -> tuple[Path, Path]:
    trace_file = tmp_path / "traces" / "spans.jsonl"
    config = tmp_path / "spanguard.yaml"
    config.write_text(
        f"exporters:\n  file:\n    path: {trace_file}\n  batch:\n    schedule_delay_ms: 50\n"
        f"pipeline:\n  data_dir: {tmp_path / 'data'}\n{pipeline}",
        encoding="utf-8",
    )
    return config, trace_file


def _by_name(spans: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(span for span in spans if span["name"] == name)


def test_ask_with_a_yaml_selected_retriever_in_rag_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from spanguard.cli import main

    (tmp_path / "my_search_plugin.py").write_text(MY_SEARCH, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    config, trace_file = _write_config(
        tmp_path, "  mode: rag\n  top_k: 2\n  retriever: my_search_plugin:make_retriever\n"
    )

    assert main(["ask", f"When do night shifts end? Mail {EMAIL}", "--config", str(config)]) == 0
    answer = capsys.readouterr().out
    assert "Night shifts end at 6 am" in answer
    assert "ops-1" in answer  # cited by the id the retriever gave
    import my_search_plugin  # type: ignore[import-not-found]

    calls = my_search_plugin.CALLS
    assert calls == [(f"When do night shifts end? Mail {EMAIL}", 2, 2)]
    assert not (tmp_path / "data").exists()  # no Chroma index was built

    spans = _spans(trace_file)
    turn, chain, retrieval = (_by_name(spans, n) for n in ("chat_turn", "rag-pipeline", "retrieval"))
    llm = [s for s in spans if s["attrs"].get("openinference.span.kind") == "LLM"]
    assert chain["attrs"]["openinference.span.kind"] == "CHAIN"
    assert chain["parentSpanId"] == turn["spanId"]
    assert retrieval["parentSpanId"] == chain["spanId"]
    assert [s["parentSpanId"] for s in llm] == [chain["spanId"]]  # one model call, inside the chain
    assert "tools" not in json.dumps(llm[0]["attrs"].get("llm.invocation_parameters", ""))
    assert retrieval["attrs"]["retrieval.documents.0.document.id"] == "ops-1"
    assert retrieval["attrs"]["retrieval.top_score"] == pytest.approx(0.83)
    assert EMAIL not in trace_file.read_text(encoding="utf-8")  # redacted on the way out


def _never_calls_tools(path: str, headers: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
    """A model that ignores the tools it is offered: it answers from the system prompt's
    passages when there are any, and guesses otherwise."""
    request = json.loads(body)
    system = next((m["content"] for m in request["messages"] if m["role"] == "system"), "")
    cited = [part for part in system.split("\n\n") if part.startswith("[")]
    text = f"Grounded: {cited[0]}" if cited and "tools" not in request else "I guess: ask HR."
    return (
        200,
        "application/json",
        json_body(
            {
                "id": "chatcmpl-x",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": request["model"],
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
            }
        ),
    )


def test_ask_falls_back_to_rag_when_the_model_calls_no_tool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from spanguard.cli import main

    server = LoopbackHTTPServer(_never_calls_tools).start()
    try:
        monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
        config, trace_file = _write_config(
            tmp_path, f"  model: openai/no-tools-model\n  api_base: {server.base_url}/v1\n"
        )
        assert main(["ask", "How long must passwords be?", "--config", str(config)]) == 0
    finally:
        server.stop()
    answer = capsys.readouterr().out
    assert answer.startswith("Grounded: [05_security.md")
    assert "14 characters" in answer
    first, second = (json.loads(r.body) for r in server.requests)
    assert "tools" in first and "tools" not in second  # the agent offered tools, then took the RAG path

    spans = _spans(trace_file)
    turn, chain = _by_name(spans, "chat_turn"), _by_name(spans, "rag-pipeline")
    assert chain["parentSpanId"] == turn["spanId"]
    assert _by_name(spans, "retrieval")["parentSpanId"] == chain["spanId"]
    llm = [s for s in spans if s["attrs"].get("openinference.span.kind") == "LLM"]
    assert sorted(s["parentSpanId"] == chain["spanId"] for s in llm) == [False, True]
    assert any(
        e["name"] == "agent.step"
        and {"key": "agent.action", "value": {"stringValue": "rag"}} in e.get("attributes", [])
        for e in turn.get("events", [])
    )


def test_a_bad_retriever_path_is_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from spanguard.cli import main

    config, _ = _write_config(tmp_path, "  retriever: no_such_module_here:make\n")
    assert main(["ask", "hi", "--config", str(config)]) == 1
    error = capsys.readouterr().err
    assert "pipeline.retriever" in error and "no_such_module_here" in error


def test_rag_mode_streams_sync_and_async(traced_pipeline: Any) -> None:
    import asyncio

    from spanguard.pipeline.agent import AgentSettings, HandbookAgent

    runtime = traced_pipeline.runtime
    agent = HandbookAgent(
        runtime.retriever, runtime.tracer, AgentSettings(model=runtime.pipeline.model, mode="rag")
    )
    conversation = [{"role": "user", "content": "How do I file travel expenses?"}]
    events = list(agent.stream(conversation, session_id="session_rag_stream"))

    async def collect() -> list[Any]:
        return [event async for event in agent.astream(conversation, session_id="session_rag_astream")]

    for run in (events, asyncio.run(collect())):
        done = run[-1]
        assert done.type == "done" and done.result is not None
        assert "".join(e.text or "" for e in run if e.type == "delta") == done.result.answer
        assert done.result.answer.startswith("Submit expenses in the expenses tool")
        assert not any(e.type == "tool" for e in run)
    spans = traced_pipeline.span_dicts()
    chains = [s for s in spans if s["name"] == "rag-pipeline"]
    assert len(chains) == 2
    for chain in chains:
        children = sorted(s["kind"] for s in spans if s["parent_id"] == chain["span_id"])
        assert children == ["LLM", "RETRIEVER"]
        assert chain["attributes"]["output.value"].startswith("Submit expenses")


def test_an_empty_search_query_gets_no_documents(traced_pipeline: Any) -> None:
    """The search tool called with an empty query returns no passages (not the index's
    arbitrary first ones)."""
    runtime = traced_pipeline.runtime
    documents: list[Any] = []
    output, final = runtime.agent._run_tool(
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "search_handbook", "arguments": json.dumps({"query": "  "})},
        },
        documents,
    )
    assert final is None and documents == []
    assert json.loads(output)["results"] == []
    retrieval = next(s for s in traced_pipeline.span_dicts() if s["kind"] == "RETRIEVER")
    assert retrieval["attributes"]["retrieval.result_count"] == 0


def test_bench_pipeline_uses_the_yaml_selected_retriever(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import csv

    from spanguard.cli import main

    (tmp_path / "bench_search_plugin.py").write_text(MY_SEARCH, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    config, _ = _write_config(tmp_path, "  mode: rag\n  retriever: bench_search_plugin:make_retriever\n")
    queries = tmp_path / "queries.txt"
    queries.write_text("When do night shifts end?\nHow are night shifts paid?\n", encoding="utf-8")

    code = main(
        ["bench-pipeline", "--queries", str(queries), "--out", str(tmp_path / "out"), "--config", str(config)]
    )
    assert code == 0, capsys.readouterr().out
    import bench_search_plugin  # type: ignore[import-not-found]

    searched = [query for query, _, _ in bench_search_plugin.CALLS]
    assert searched[-2:] == ["When do night shifts end?", "How are night shifts paid?"]  # after a warm-up
    with (tmp_path / "out" / "pipeline_latency.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["status"] for row in rows] == ["ok", "ok"]
    assert all(row["llm_calls"] == "1" for row in rows)  # the RAG path: one model call per turn
    assert not (tmp_path / "data").exists()
