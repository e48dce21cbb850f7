"""The handbook agent: a bounded tool-calling loop through LiteLLM.

One chat turn = one AGENT span. Inside it the model (any LiteLLM model string; the
offline stand-in by default) is called up to `max_steps` times; each call is an LLM span
recorded by OpenInference's LiteLLM instrumentor, each tool call a TOOL span, and the
search tool's retrieval a RETRIEVER span under it. `session.id` / `user.id` reach every
one of those spans through `using_session` / `using_user`.

Tools: `search_handbook(query)` returns passages as JSON; `answer(text)` ends the turn
with `text` (models that prefer tools to plain replies use it; a plain reply ends the
turn too). Four entry points share the loop's pieces: `run`, `arun`, `stream`,
`astream`. In the streaming ones the LLM span ends when its stream is drained, so it
holds the full output, and text deltas reach the caller as they arrive.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from openinference.instrumentation import using_session, using_user
from openinference.semconv.trace import OpenInferenceSpanKindValues, SpanAttributes
from opentelemetry.trace import Span, Tracer
from spanguard.pipeline.llm_client import import_litellm
from spanguard.pipeline.offline_model import SEARCH_TOOL_NAME
from spanguard.pipeline.retrieval import RetrievedDocument, Retriever
from spanguard.pipeline.tracing import (
    openinference_span,
    record_agent_step,
    record_input,
    record_output,
    record_tool_call,
    traced_retrieval,
)

from spanguard.errors import SpanguardError

ANSWER_TOOL_NAME = "answer"
SYSTEM_PROMPT = (
    "You answer employees' questions about the company handbook. Always call the "
    f"{SEARCH_TOOL_NAME} tool first, then answer only from the passages it returns, citing "
    "their sources. If nothing relevant was found, say so plainly instead of guessing. "
    f"Reply in plain text, or call the {ANSWER_TOOL_NAME} tool with your final answer."
)
TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {
        "name": SEARCH_TOOL_NAME,
        "description": "Search the company handbook; returns the most relevant passages with sources.",
        "parameters": {"type": "object", "properties": {
            "query": {"type": "string", "description": "what to look for"}}, "required": ["query"]},
    }},
    {"type": "function", "function": {
        "name": ANSWER_TOOL_NAME,
        "description": "Give the final answer to the user and end the turn.",
        "parameters": {"type": "object", "properties": {
            "text": {"type": "string", "description": "the answer, citing sources"}}, "required": ["text"]},
    }},
]
_TOOL_DESCRIPTIONS = {tool["function"]["name"]: tool["function"]["description"] for tool in TOOLS}
_TOOL_SCHEMAS = {tool["function"]["name"]: tool for tool in TOOLS}


class AgentError(SpanguardError):
    """A turn that could not produce an answer (steps exhausted, empty reply, bad input)."""


class ModelCallError(AgentError):
    """The model provider failed; the message names the model and the error type only."""


@dataclass(frozen=True)
class AgentSettings:
    model: str
    top_k: int = 4
    max_steps: int = 4
    api_base: str | None = None
    timeout_s: float = 60.0


@dataclass
class TurnResult:
    answer: str
    messages: list[dict[str, str]]
    steps: int
    documents: list[RetrievedDocument] = field(default_factory=list)


@dataclass
class AgentEvent:
    """What a streaming turn yields: text deltas, tool calls, then `done` with the result."""

    type: Literal["delta", "tool", "done"]
    text: str | None = None
    result: TurnResult | None = None


def latest_question(conversation: Sequence[Mapping[str, Any]]) -> str:
    if not conversation or conversation[-1].get("role") != "user":
        raise AgentError("the conversation must end with a user message")
    question = conversation[-1].get("content")
    if not isinstance(question, str) or not question.strip():
        raise AgentError("the question is empty")
    return question


def _model_error(model: str, exc: BaseException) -> ModelCallError:
    status = getattr(exc, "status_code", None)
    detail = f", status {status}" if isinstance(status, int) else ""
    return ModelCallError(f"the model call to {model!r} failed ({type(exc).__name__}{detail}); "
                          "check the model name, api_base and provider key")


def _message_parts(message: Any) -> tuple[str, list[dict[str, Any]]]:
    """(content, tool calls as plain dicts) of a LiteLLM response message."""
    content = getattr(message, "content", None) or ""
    calls: list[dict[str, Any]] = []
    for call in getattr(message, "tool_calls", None) or []:
        function = call.function
        calls.append({"id": call.id, "type": "function",
                      "function": {"name": function.name, "arguments": function.arguments or "{}"}})
    return str(content), calls


class HandbookAgent:
    """Answers one turn of a conversation; safe to share between concurrent turns."""

    def __init__(self, retriever: Retriever, tracer: Tracer, settings: AgentSettings) -> None:
        self.retriever = retriever
        self.tracer = tracer
        self.settings = settings
        self._litellm = import_litellm()
        self._retrieve = traced_retrieval(retriever, tracer, top_k=settings.top_k)

    # ---------------------------------------------------------------- shared pieces

    def _kwargs(self, messages: list[dict[str, Any]], stream: bool) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.settings.model, "messages": messages, "tools": TOOLS,
                                  "timeout": self.settings.timeout_s}
        if self.settings.api_base:
            kwargs["api_base"] = self.settings.api_base
        if stream:
            kwargs["stream"] = True
            kwargs["stream_options"] = {"include_usage": True}
        return kwargs

    @contextmanager
    def _turn(self, conversation: Sequence[Mapping[str, Any]], session_id: str,
              user_id: str | None) -> Iterator[tuple[Span, list[dict[str, Any]]]]:
        question = latest_question(conversation)
        with ExitStack() as stack:
            stack.enter_context(using_session(session_id))
            if user_id:
                stack.enter_context(using_user(user_id))
            span = stack.enter_context(openinference_span(self.tracer, "agent_turn",
                                                          OpenInferenceSpanKindValues.AGENT))
            span.set_attribute(SpanAttributes.SESSION_ID, session_id)
            if user_id:
                span.set_attribute(SpanAttributes.USER_ID, user_id)
            span.set_attribute(SpanAttributes.LLM_MODEL_NAME, self.settings.model)
            record_input(span, question)
            messages = [{"role": "system", "content": SYSTEM_PROMPT},
                        *({"role": str(m["role"]), "content": str(m["content"])} for m in conversation)]
            yield span, messages

    def _run_tool(self, call: dict[str, Any], documents: list[RetrievedDocument]) -> tuple[str, str | None]:
        """Execute one tool call under a TOOL span: (tool message content, final answer)."""
        name = str(call["function"]["name"])
        with openinference_span(self.tracer, name, OpenInferenceSpanKindValues.TOOL) as span:
            try:
                arguments = json.loads(call["function"]["arguments"] or "{}")
            except ValueError:
                arguments = None
            if not isinstance(arguments, dict):
                output = json.dumps({"error": "tool arguments were not a JSON object"})
                record_tool_call(span, name=name, arguments={}, output=output)
                return output, None
            if name == SEARCH_TOOL_NAME and isinstance(arguments.get("query"), str):
                found = self._retrieve(arguments["query"])
                documents.extend(found)
                output = json.dumps({"query": arguments["query"], "results": [
                    {"id": d.id, "source": d.metadata.get("source"), "heading": d.metadata.get("heading"),
                     "score": d.score, "content": d.content} for d in found]}, ensure_ascii=False)
                record_tool_call(span, name=name, arguments=arguments, output=output,
                                 description=_TOOL_DESCRIPTIONS[name], json_schema=_TOOL_SCHEMAS[name])
                return output, None
            if name == ANSWER_TOOL_NAME and isinstance(arguments.get("text"), str):
                record_tool_call(span, name=name, arguments=arguments, output=arguments["text"],
                                 description=_TOOL_DESCRIPTIONS[name], json_schema=_TOOL_SCHEMAS[name])
                return "answer delivered", arguments["text"]
            output = json.dumps({"error": f"unknown tool or missing arguments for {name!r}"})
            record_tool_call(span, name=name, arguments=arguments, output=output)
            return output, None

    def _after_model(self, span: Span, step: int, content: str, calls: list[dict[str, Any]],
                     messages: list[dict[str, Any]], documents: list[RetrievedDocument]) -> str | None:
        """Apply one model reply; the final answer when the turn is over, else None."""
        if not calls:
            if not content.strip():
                raise AgentError(f"the model {self.settings.model!r} returned an empty reply")
            record_agent_step(span, step=step, action="answer")
            return content
        messages.append({"role": "assistant", "content": content or None, "tool_calls": calls})
        final: str | None = None
        for call in calls:
            record_agent_step(span, step=step, action="tool_call", detail=str(call["function"]["name"]))
            output, answer = self._run_tool(call, documents)
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": output})
            final = answer if answer is not None else final
        return final

    def _finish(self, span: Span, conversation: Sequence[Mapping[str, Any]], answer: str, steps: int,
                documents: list[RetrievedDocument]) -> TurnResult:
        record_output(span, answer)
        span.set_attribute("agent.steps", steps)
        history = [{"role": str(m["role"]), "content": str(m["content"])} for m in conversation]
        return TurnResult(answer=answer, messages=[*history, {"role": "assistant", "content": answer}],
                          steps=steps, documents=documents)

    def _out_of_steps(self) -> AgentError:
        return AgentError(f"the agent did not reach an answer within {self.settings.max_steps} steps")

    # ---------------------------------------------------------------- entry points

    def run(self, conversation: Sequence[Mapping[str, Any]], *, session_id: str,
            user_id: str | None = None) -> TurnResult:
        with self._turn(conversation, session_id, user_id) as (span, messages):
            documents: list[RetrievedDocument] = []
            for step in range(1, self.settings.max_steps + 1):
                try:
                    response = self._litellm.completion(**self._kwargs(messages, stream=False))
                except Exception as exc:
                    raise _model_error(self.settings.model, exc) from exc
                content, calls = _message_parts(response.choices[0].message)
                final = self._after_model(span, step, content, calls, messages, documents)
                if final is not None:
                    return self._finish(span, conversation, final, step, documents)
            raise self._out_of_steps()

    async def arun(self, conversation: Sequence[Mapping[str, Any]], *, session_id: str,
                   user_id: str | None = None) -> TurnResult:
        with self._turn(conversation, session_id, user_id) as (span, messages):
            documents: list[RetrievedDocument] = []
            for step in range(1, self.settings.max_steps + 1):
                try:
                    response = await self._litellm.acompletion(**self._kwargs(messages, stream=False))
                except Exception as exc:
                    raise _model_error(self.settings.model, exc) from exc
                content, calls = _message_parts(response.choices[0].message)
                # tools may block (Chroma, a remote embedder): keep them off the event loop;
                # to_thread copies the context, so their spans still nest under this turn
                final = await asyncio.to_thread(self._after_model, span, step, content, calls, messages,
                                                documents)
                if final is not None:
                    return self._finish(span, conversation, final, step, documents)
            raise self._out_of_steps()

    def stream(self, conversation: Sequence[Mapping[str, Any]], *, session_id: str,
               user_id: str | None = None) -> Iterator[AgentEvent]:
        with self._turn(conversation, session_id, user_id) as (span, messages):
            documents: list[RetrievedDocument] = []
            for step in range(1, self.settings.max_steps + 1):
                chunks: list[Any] = []
                try:
                    for chunk in self._litellm.completion(**self._kwargs(messages, stream=True)):
                        chunks.append(chunk)
                        delta = chunk.choices[0].delta.content if chunk.choices else None
                        if delta:
                            yield AgentEvent("delta", text=delta)
                except Exception as exc:
                    raise _model_error(self.settings.model, exc) from exc
                content, calls = self._rebuild(chunks, messages)
                for call in calls:
                    yield AgentEvent("tool", text=str(call["function"]["name"]))
                final = self._after_model(span, step, content, calls, messages, documents)
                if final is not None:
                    yield AgentEvent("done", result=self._finish(span, conversation, final, step, documents))
                    return
            raise self._out_of_steps()

    async def astream(self, conversation: Sequence[Mapping[str, Any]], *, session_id: str,
                      user_id: str | None = None) -> AsyncIterator[AgentEvent]:
        with self._turn(conversation, session_id, user_id) as (span, messages):
            documents: list[RetrievedDocument] = []
            for step in range(1, self.settings.max_steps + 1):
                chunks: list[Any] = []
                try:
                    response = await self._litellm.acompletion(**self._kwargs(messages, stream=True))
                    async for chunk in response:
                        chunks.append(chunk)
                        delta = chunk.choices[0].delta.content if chunk.choices else None
                        if delta:
                            yield AgentEvent("delta", text=delta)
                except Exception as exc:
                    raise _model_error(self.settings.model, exc) from exc
                content, calls = self._rebuild(chunks, messages)
                for call in calls:
                    yield AgentEvent("tool", text=str(call["function"]["name"]))
                final = await asyncio.to_thread(self._after_model, span, step, content, calls, messages,
                                                documents)
                if final is not None:
                    yield AgentEvent("done", result=self._finish(span, conversation, final, step, documents))
                    return
            raise self._out_of_steps()

    def _rebuild(self, chunks: list[Any], messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
        if not chunks:
            raise AgentError(f"the model {self.settings.model!r} returned an empty stream")
        full = self._litellm.stream_chunk_builder(chunks, messages=messages)
        return _message_parts(full.choices[0].message)
