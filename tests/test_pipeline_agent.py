"""End to end, offline: real Chroma, real LiteLLM (custom provider), the real OpenInference
LiteLLM instrumentor, spans through spanguard's processor chain into memory."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest
from support_pipeline import TracedPipeline, free_port

EMAIL = "jane.doe@example.com"


def _kinds(spans: list[dict[str, Any]]) -> list[str]:
    return [span["kind"] for span in spans]


def _all_values(spans: list[dict[str, Any]]) -> list[str]:
    values: list[str] = []
    for span in spans:
        values.extend(str(value) for value in span["attributes"].values())
        for event in span["events"]:
            values.extend(str(value) for value in event["attributes"].values())
    return values


def test_one_turn_is_one_trace_with_agent_llm_retriever_tool_spans(traced_pipeline: TracedPipeline) -> None:
    agent = traced_pipeline.runtime.agent
    question = f"How many days of annual leave do I get? Please reply to {EMAIL}"

    result = agent.run([{"role": "user", "content": question}], session_id="session_e2e_1", user_id="u-42")

    assert "27 days" in result.answer
    assert result.messages[-1] == {"role": "assistant", "content": result.answer}
    spans = traced_pipeline.span_dicts()
    assert {span["trace_id"] for span in spans} == {spans[0]["trace_id"]}, "one trace per turn"
    kinds = _kinds(spans)
    assert kinds.count("AGENT") == 1
    assert kinds.count("LLM") == 2  # tool call, then the answer
    assert "RETRIEVER" in kinds and "TOOL" in kinds
    for span in spans:
        assert span["attributes"]["session.id"] == "session_e2e_1", span["name"]
        assert span["attributes"]["user.id"] == "u-42", span["name"]

    assert {s["status"] for s in spans} == {"OK"}
    agent_span = next(s for s in spans if s["kind"] == "AGENT")
    assert agent_span["parent_id"] is None
    assert all(s["parent_id"] for s in spans if s is not agent_span)
    assert agent_span["attributes"]["output.value"] == result.answer

    llm = [s for s in spans if s["kind"] == "LLM"]
    assert all(any(k.startswith("llm.input_messages.") for k in s["attributes"]) for s in llm)
    first_llm = min(llm, key=lambda s: s["start_time_ns"])
    assert first_llm["attributes"]["llm.input_messages.0.message.role"] == "system"
    assert first_llm["attributes"]["llm.input_messages.1.message.role"] == "user"

    retriever = next(s for s in spans if s["kind"] == "RETRIEVER")
    documents = {k: v for k, v in retriever["attributes"].items() if k.startswith("retrieval.documents.")}
    assert "retrieval.documents.0.document.content" in documents
    assert "retrieval.documents.0.document.id" in documents
    assert isinstance(documents["retrieval.documents.0.document.score"], float)
    assert json.loads(str(documents["retrieval.documents.0.document.metadata"]))["source"].endswith(".md")
    tool = next(s for s in spans if s["kind"] == "TOOL")
    assert tool["attributes"]["tool.name"] == "search_handbook"
    # the stand-in searches for the question sentence, without the contact details around it
    assert json.loads(str(tool["attributes"]["tool.parameters"])) == {
        "query": "How many days of annual leave do I get?"
    }
    schema = json.loads(str(tool["attributes"]["tool.json_schema"]))
    assert schema["function"]["name"] == "search_handbook"
    assert schema["function"]["parameters"]["required"] == ["query"]
    assert retriever["parent_id"] == tool["span_id"]

    # the e-mail went to the model (it is the user's question) but never left in a span
    values = _all_values(spans)
    assert not any(EMAIL in value for value in values)
    assert any("[REDACTED:email]" in value for value in values)
    assert "[REDACTED:email]" in str(first_llm["attributes"]["llm.input_messages.1.message.content"])


def test_question_the_handbook_cannot_answer_says_so(traced_pipeline: TracedPipeline) -> None:
    from spanguard.pipeline.offline_model import NOTHING_FOUND

    result = traced_pipeline.runtime.agent.run(
        [{"role": "user", "content": "What is the capital of Australia?"}], session_id="session_none"
    )
    assert result.answer == NOTHING_FOUND


def test_follow_up_turn_keeps_history(traced_pipeline: TracedPipeline) -> None:
    agent = traced_pipeline.runtime.agent
    first = agent.run([{"role": "user", "content": "How long must passwords be?"}], session_id="s_hist")
    second = agent.run(
        [*first.messages, {"role": "user", "content": "How long does probation last?"}], session_id="s_hist"
    )
    assert len(second.messages) == 4
    assert "six months" in second.answer
    traces = {s["trace_id"] for s in traced_pipeline.span_dicts() if s["kind"] == "AGENT"}
    assert len(traces) == 2


def test_async_turn(traced_pipeline: TracedPipeline) -> None:
    result = asyncio.run(
        traced_pipeline.runtime.agent.arun(
            [{"role": "user", "content": "What is the per diem for meals outside Europe?"}],
            session_id="s_async",
        )
    )
    assert "60 euros" in result.answer
    spans = traced_pipeline.span_dicts()
    assert sorted(set(_kinds(spans))) == ["AGENT", "LLM", "RETRIEVER", "TOOL"]
    assert len({s["trace_id"] for s in spans}) == 1  # tools ran in a worker thread, same trace
    assert {s["attributes"]["session.id"] for s in spans} == {"s_async"}


def _check_streamed(traced_pipeline: TracedPipeline, deltas: list[str], answer: str, session: str) -> None:
    assert len(deltas) > 1, "the answer arrives in pieces"
    assert "".join(deltas) == answer
    spans = traced_pipeline.span_dicts()
    llm = sorted((s for s in spans if s["kind"] == "LLM"), key=lambda s: s["start_time_ns"])
    # the streamed LLM span ends holding the full output, not the first chunk
    assert llm[-1]["attributes"]["llm.output_messages.0.message.content"] == answer
    assert {s["attributes"]["session.id"] for s in spans} == {session}
    assert len({s["trace_id"] for s in spans}) == 1


def test_streaming_turn_sync(traced_pipeline: TracedPipeline) -> None:
    events = list(
        traced_pipeline.runtime.agent.stream(
            [{"role": "user", "content": "What is the home office equipment budget?"}], session_id="s_stream"
        )
    )
    assert [e.text for e in events if e.type == "tool"] == ["search_handbook"]
    done = events[-1]
    assert done.type == "done" and done.result is not None
    assert "600 euros" in done.result.answer
    _check_streamed(
        traced_pipeline, [e.text or "" for e in events if e.type == "delta"], done.result.answer, "s_stream"
    )


def test_streaming_turn_async(traced_pipeline: TracedPipeline) -> None:
    async def collect() -> list[Any]:
        return [
            event
            async for event in traced_pipeline.runtime.agent.astream(
                [{"role": "user", "content": "How long does probation last?"}], session_id="s_astream"
            )
        ]

    events = asyncio.run(collect())
    done = events[-1]
    assert done.type == "done" and done.result is not None
    _check_streamed(
        traced_pipeline, [e.text or "" for e in events if e.type == "delta"], done.result.answer, "s_astream"
    )


def test_steps_are_bounded_and_the_failure_is_recorded(traced_pipeline: TracedPipeline) -> None:
    from spanguard.pipeline.agent import AgentError, AgentSettings, HandbookAgent

    runtime = traced_pipeline.runtime
    agent = HandbookAgent(
        runtime.retriever, runtime.tracer, AgentSettings(model=runtime.pipeline.model, max_steps=1)
    )
    with pytest.raises(AgentError, match="within 1 steps"):
        agent.run([{"role": "user", "content": "How long must passwords be?"}], session_id="s_bound")
    agent_span = next(s for s in traced_pipeline.span_dicts() if s["kind"] == "AGENT")
    assert agent_span["status"] == "ERROR"
    assert agent_span["events"][-1]["name"] == "exception"


def test_unreachable_provider_fails_clearly_and_is_recorded(
    traced_pipeline: TracedPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spanguard.pipeline.agent import AgentSettings, HandbookAgent, ModelCallError

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    runtime = traced_pipeline.runtime
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    agent = HandbookAgent(
        runtime.retriever,
        runtime.tracer,
        AgentSettings(model="openai/gpt-4o-mini", api_base=dead, timeout_s=5),
    )
    with pytest.raises(ModelCallError) as caught:
        agent.run([{"role": "user", "content": "How long must passwords be?"}], session_id="s_dead")
    assert "openai/gpt-4o-mini" in str(caught.value)
    assert "sk-test" not in str(caught.value)
    spans = traced_pipeline.span_dicts()
    agent_span = next(s for s in spans if s["kind"] == "AGENT")
    assert agent_span["status"] == "ERROR"
    assert any(e["name"] == "exception" for e in agent_span["events"])
    llm_span = next(s for s in spans if s["kind"] == "LLM")
    assert llm_span["status"] == "ERROR"


def test_plain_rag_chain_through_litellm(traced_pipeline: TracedPipeline) -> None:
    from spanguard.pipeline.rag import cited, litellm_answer_fn
    from spanguard.pipeline.tracing import build_traced_rag_pipeline

    runtime = traced_pipeline.runtime
    rag = build_traced_rag_pipeline(
        runtime.retriever,
        litellm_answer_fn(runtime.pipeline.model),
        runtime.tracer,
        model_name=runtime.pipeline.model,
        context_of=cited,
    )
    answer = rag("How big is the learning and development budget?")
    assert "1,500 euros" in answer
    spans = traced_pipeline.span_dicts()
    chain = next(s for s in spans if s["kind"] == "CHAIN")
    assert chain["attributes"]["output.value"] == answer
    children = {s["kind"] for s in spans if s["parent_id"] == chain["span_id"]}
    assert children == {"RETRIEVER", "LLM"}
    # LiteLLM's own span nests under the generation span
    generation = next(s for s in spans if s["name"] == "generation")
    assert any(s["parent_id"] == generation["span_id"] and s["kind"] == "LLM" for s in spans)


def test_pipeline_section_sets_corpus_top_k_and_steps(tmp_path: Any) -> None:
    """`pipeline:` keys from YAML reach the retriever and the agent (and env overrides win)."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from spanguard.config import load_config
    from spanguard.pipeline.agent import AgentError
    from spanguard.pipeline.runtime import build_runtime
    from spanguard.pipeline.tracing import spans_to_dicts

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "garden.md").write_text(
        "# Garden\n\n## Watering\n\nThe roof garden is watered every Tuesday by the facilities team.\n\n"
        "## Bees\n\nThe two beehives on the roof are looked after by volunteers.\n",
        encoding="utf-8",
    )
    config = tmp_path / "spanguard.yaml"
    config.write_text(
        f"exporters: {{}}\npipeline:\n  data_dir: {tmp_path / 'data'}\n  corpus: [{notes}]\n"
        "  top_k: 1\n  max_steps: 3\n",
        encoding="utf-8",
    )
    exporter = InMemorySpanExporter()
    runtime = build_runtime(
        load_config(str(config)), exporters={"memory": exporter}, environ={"SPANGUARD_MAX_STEPS": "1"}
    )
    try:
        assert runtime.agent.settings.top_k == 1 and runtime.agent.settings.max_steps == 1
        with pytest.raises(AgentError, match="within 1 steps"):
            runtime.agent.run(
                [{"role": "user", "content": "When is the roof garden watered?"}], session_id="s_cfg"
            )
        runtime.agent.settings = dataclasses.replace(runtime.agent.settings, max_steps=3)
        result = runtime.agent.run(
            [{"role": "user", "content": "When is the roof garden watered?"}], session_id="s_cfg"
        )
        runtime.flush()
        spans = spans_to_dicts(list(exporter.get_finished_spans()))
    finally:
        runtime.shutdown()
    assert "watered every Tuesday" in result.answer
    retriever = [s for s in spans if s["kind"] == "RETRIEVER"][-1]
    documents = {k for k in retriever["attributes"] if k.startswith("retrieval.documents.")}
    assert {k.split(".")[2] for k in documents} == {"0"}  # top_k: 1
    assert "garden.md" in str(retriever["attributes"]["retrieval.documents.0.document.metadata"])
