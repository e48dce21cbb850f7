"""The tutorials' one-call span recorders: `record_retrieval_span`, `record_generation_span`,
`record_agent_step_span`.

Each starts a span on the given tracer, sets the attributes the tutorials tabulate
(`retrieval.top_k`, `generation.answer_word_count`, `agent.step_number`, ...) and ends
it, so code written against the tutorials runs unchanged on spanguard. Each span also
carries its OpenInference kind and `input.value` / `output.value`, which is what Phoenix
shows in its span list. Results may be spanguard `RetrievedDocument`s or the tutorials'
own result objects (`chunk_id`, `text`, `score`): both are read by attribute.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openinference.semconv.trace import OpenInferenceSpanKindValues, SpanAttributes
from opentelemetry.trace import Tracer

_KIND = SpanAttributes.OPENINFERENCE_SPAN_KIND


def result_text(result: Any) -> str:
    """The passage text of a retrieval result: a string, `.content` or `.text`."""
    if isinstance(result, str):
        return result
    for name in ("content", "text"):
        value = getattr(result, name, None)
        if isinstance(value, str):
            return value
    return str(result)


def result_id(result: Any, index: int) -> str:
    for name in ("id", "chunk_id"):
        value = getattr(result, name, None)
        if value is not None:
            return str(value)
    return str(index)


def result_score(result: Any) -> float | None:
    score = getattr(result, "score", None)
    return float(score) if isinstance(score, (int, float)) else None


def record_retrieval_span(
    tracer: Tracer, *, query: str, results: Sequence[Any], top_k: int, name: str = "retrieval"
) -> None:
    """One RETRIEVER span: `retrieval.query`, `retrieval.top_k`, `retrieval.result_count`
    and, when any result has a score, `retrieval.top_score` (the best one)."""
    scores = [s for s in (result_score(r) for r in results) if s is not None]
    with tracer.start_as_current_span(name) as span:
        span.set_attribute("retrieval.query", query)
        span.set_attribute("retrieval.top_k", int(top_k))
        span.set_attribute("retrieval.result_count", len(results))
        if scores:
            span.set_attribute("retrieval.top_score", max(scores))
        span.set_attribute(_KIND, OpenInferenceSpanKindValues.RETRIEVER.value)
        span.set_attribute(SpanAttributes.INPUT_VALUE, query)


def record_generation_span(
    tracer: Tracer,
    *,
    question: str,
    answer: str,
    model: str,
    context_chunk_count: int,
    name: str = "generation",
) -> None:
    """One LLM span: `generation.question`, `generation.model`,
    `generation.context_chunk_count` and `generation.answer_word_count`."""
    with tracer.start_as_current_span(name) as span:
        span.set_attribute("generation.question", question)
        span.set_attribute("generation.model", model)
        span.set_attribute("generation.context_chunk_count", int(context_chunk_count))
        span.set_attribute("generation.answer_word_count", len(answer.split()))
        span.set_attribute(_KIND, OpenInferenceSpanKindValues.LLM.value)
        span.set_attribute(SpanAttributes.LLM_MODEL_NAME, model)
        span.set_attribute(SpanAttributes.INPUT_VALUE, question)
        span.set_attribute(SpanAttributes.OUTPUT_VALUE, answer)


def record_agent_step_span(
    tracer: Tracer,
    *,
    step_number: int,
    thought: str,
    action: str,
    action_input: str,
    observation: str,
    name: str = "agent_step",
) -> None:
    """One `agent_step` span per Thought/Action/Observation cycle: `agent.step_number`,
    `agent.thought`, `agent.action`, `agent.action_input`, `agent.observation_length`
    (the observation itself is summarised by its length, as the tutorial advises)."""
    with tracer.start_as_current_span(name) as span:
        span.set_attribute("agent.step_number", int(step_number))
        span.set_attribute("agent.thought", thought)
        span.set_attribute("agent.action", action)
        span.set_attribute("agent.action_input", action_input)
        span.set_attribute("agent.observation_length", len(observation))
        span.set_attribute(_KIND, OpenInferenceSpanKindValues.CHAIN.value)
        span.set_attribute(SpanAttributes.INPUT_VALUE, action_input)
