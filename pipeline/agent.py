"""The handbook agent: a bounded tool-calling loop through LiteLLM.

One chat turn = one AGENT span. Inside it the model (any LiteLLM model string; the
offline stand-in by default) is called up to `max_steps` times; each call is an LLM span
recorded by OpenInference's LiteLLM instrumentor, each tool call a TOOL span, and the
search tool's retrieval a RETRIEVER span under it. `session.id` / `user.id` reach every
one of those spans through `using_session` / `using_user`.

Tools: `search_handbook(query)` returns passages as JSON; `answer(text)` ends the turn
with `text` (models that prefer tools to plain replies use it; a plain reply after a
search ends the turn too). Four entry points share the loop's pieces: `run`, `arun`,
`stream`, `astream`. In the streaming ones the LLM span ends when its stream is drained,
so it holds the full output, and text deltas reach the caller as they arrive.

The plain RAG path (`mode: rag`, or a model whose first reply calls no tool, which
would otherwise answer with no retrieval at all): one CHAIN span `rag-pipeline` over the
RETRIEVER span of a search for the question and the LLM span of one tool-less model call
with the passages in the system prompt.
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

from spanguard.errors import SpanguardError
from spanguard.pipeline.llm_client import import_litellm
from spanguard.pipeline.offline_model import SEARCH_TOOL_NAME
from spanguard.pipeline.rag import RAG_SYSTEM_PROMPT, cited
from spanguard.pipeline.retrieval import RetrievedDocument, Retriever
from spanguard.pipeline.tracing import (
    openinference_span,
    record_agent_step,
    record_input,
    record_output,
    record_tool_call,
    traced_retrieval,
)

ANSWER_TOOL_NAME = "answer"
TURN_SPAN_NAME = "chat_turn"  # as the chatbot homework names it
RAG_SPAN_NAME = "rag-pipeline"
MODES = ("agent", "rag")
SYSTEM_PROMPT = (
    "You answer employees' questions about the company handbook. Always call the "
    f"{SEARCH_TOOL_NAME} tool first, then answer only from the passages it returns, citing "
    "their sources. If nothing relevant was found, say so plainly instead of guessing. "
    f"Reply in plain text, or call the {ANSWER_TOOL_NAME} tool with your final answer."
)
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": SEARCH_TOOL_NAME,
            "description": "Search the company handbook; returns the most relevant passages with sources.",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string", "description": "what to look for"}},
                "required": ["query"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": ANSWER_TOOL_NAME,
            "description": "Give the final answer to the user and end the turn.",
            "parameters": {
                "type": "object",
                "properties": {"text": {"type": "string", "description": "the answer, citing sources"}},
                "required": ["text"],
            },
        },
    },
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
    mode: Literal["agent", "rag"] = "agent"


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
    return ModelCallError(
        f"the model call to {model!r} failed ({type(exc).__name__}{detail}); "
        "check the model name, api_base and provider key"
    )


def _message_parts(message: Any) -> tuple[str, list[dict[str, Any]]]:
    """(content, tool calls as plain dicts) of a LiteLLM response message."""
    content = getattr(message, "content", None) or ""
    calls: list[dict[str, Any]] = []
    for call in getattr(message, "tool_calls", None) or []:
        function = call.function
        calls.append(
            {
                "id": call.id,
                "type": "function",
                "function": {"name": function.name, "arguments": function.arguments or "{}"},
            }
        )
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

    def _kwargs(self, messages: list[dict[str, Any]], stream: bool, tools: bool = True) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.settings.model,
            "messages": messages,
            "timeout": self.settings.timeout_s,
        }
        if tools:
            kwargs["tools"] = TOOLS
        if self.settings.api_base:
            kwargs["api_base"] = self.settings.api_base
        if stream:
            kwargs["stream"] = True
            kwargs["stream_options"] = {"include_usage": True}
        return kwargs

    @contextmanager
    def _turn(
        self, conversation: Sequence[Mapping[str, Any]], session_id: str, user_id: str | None
    ) -> Iterator[tuple[Span, list[dict[str, Any]]]]:
        question = latest_question(conversation)
        with ExitStack() as stack:
            stack.enter_context(using_session(session_id))
            if user_id:
                stack.enter_context(using_user(user_id))
            span = stack.enter_context(
                openinference_span(self.tracer, TURN_SPAN_NAME, OpenInferenceSpanKindValues.AGENT)
            )
            span.set_attribute(SpanAttributes.SESSION_ID, session_id)
            if user_id:
                span.set_attribute(SpanAttributes.USER_ID, user_id)
            span.set_attribute(SpanAttributes.LLM_MODEL_NAME, self.settings.model)
            record_input(span, question)
            messages = [
                {"role": "system", "content": SYSTEM_PROMPT},
                *({"role": str(m["role"]), "content": str(m["content"])} for m in conversation),
            ]
            yield span, messages

    @contextmanager
    def _rag_span(self, span: Span, conversation: Sequence[Mapping[str, Any]], step: int) -> Iterator[Span]:
        """The CHAIN span of the plain RAG path (search, then one tool-less model call)."""
        record_agent_step(span, step=step, action="rag")
        with openinference_span(self.tracer, RAG_SPAN_NAME, OpenInferenceSpanKindValues.CHAIN) as chain:
            record_input(chain, latest_question(conversation))
            yield chain

    def _rag_messages(
        self, conversation: Sequence[Mapping[str, Any]], documents: list[RetrievedDocument]
    ) -> list[dict[str, Any]]:
        """Search for the question (a RETRIEVER span); the passages go in the system prompt."""
        found = self._retrieve(latest_question(conversation))
        documents.extend(found)
        context = "\n\n".join(cited(document) for document in found)
        return [
            {"role": "system", "content": RAG_SYSTEM_PROMPT + context},
            *({"role": str(m["role"]), "content": str(m["content"])} for m in conversation),
        ]

    def _run_rag(
        self,
        span: Span,
        conversation: Sequence[Mapping[str, Any]],
        step: int,
        documents: list[RetrievedDocument],
    ) -> TurnResult:
        with self._rag_span(span, conversation, step) as chain:
            content, _ = self._complete(self._rag_messages(conversation, documents), tools=False)
            answer = self._rag_answer(chain, content)
        return self._finish(span, conversation, answer, step, documents)

    async def _arun_rag(
        self,
        span: Span,
        conversation: Sequence[Mapping[str, Any]],
        step: int,
        documents: list[RetrievedDocument],
    ) -> TurnResult:
        with self._rag_span(span, conversation, step) as chain:
            # the search may block (Chroma, a remote embedder); to_thread keeps the context
            messages = await asyncio.to_thread(self._rag_messages, conversation, documents)
            content, _ = await self._acomplete(messages, tools=False)
            answer = self._rag_answer(chain, content)
        return self._finish(span, conversation, answer, step, documents)

    def _rag_answer(self, chain: Span, content: str) -> str:
        if not content.strip():
            raise AgentError(f"the model {self.settings.model!r} returned an empty reply")
        record_output(chain, content)
        return content

    def _wants_rag(self, step: int, calls: list[dict[str, Any]]) -> bool:
        """A first reply without a tool call: the model did not search, so the plain RAG
        path answers instead (an answer with no retrieval at all is not grounded)."""
        return step == 1 and not calls

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
                output = json.dumps(
                    {
                        "query": arguments["query"],
                        "results": [
                            {
                                "id": d.id,
                                "source": d.metadata.get("source"),
                                "heading": d.metadata.get("heading"),
                                "score": d.score,
                                "content": d.content,
                            }
                            for d in found
                        ],
                    },
                    ensure_ascii=False,
                )
                record_tool_call(
                    span,
                    name=name,
                    arguments=arguments,
                    output=output,
                    description=_TOOL_DESCRIPTIONS[name],
                    json_schema=_TOOL_SCHEMAS[name],
                )
                return output, None
            if name == ANSWER_TOOL_NAME and isinstance(arguments.get("text"), str):
                record_tool_call(
                    span,
                    name=name,
                    arguments=arguments,
                    output=arguments["text"],
                    description=_TOOL_DESCRIPTIONS[name],
                    json_schema=_TOOL_SCHEMAS[name],
                )
                return "answer delivered", arguments["text"]
            output = json.dumps({"error": f"unknown tool or missing arguments for {name!r}"})
            record_tool_call(span, name=name, arguments=arguments, output=output)
            return output, None

    def _after_model(
        self,
        span: Span,
        step: int,
        content: str,
        calls: list[dict[str, Any]],
        messages: list[dict[str, Any]],
        documents: list[RetrievedDocument],
    ) -> str | None:
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

    def _finish(
        self,
        span: Span,
        conversation: Sequence[Mapping[str, Any]],
        answer: str,
        steps: int,
        documents: list[RetrievedDocument],
    ) -> TurnResult:
        record_output(span, answer)
        span.set_attribute("agent.steps", steps)
        history = [{"role": str(m["role"]), "content": str(m["content"])} for m in conversation]
        return TurnResult(
            answer=answer,
            messages=[*history, {"role": "assistant", "content": answer}],
            steps=steps,
            documents=documents,
        )

    def _out_of_steps(self) -> AgentError:
        return AgentError(f"the agent did not reach an answer within {self.settings.max_steps} steps")

    # ---------------------------------------------------------------- entry points

    def _complete(
        self, messages: list[dict[str, Any]], tools: bool = True
    ) -> tuple[str, list[dict[str, Any]]]:
        try:
            response = self._litellm.completion(**self._kwargs(messages, stream=False, tools=tools))
        except Exception as exc:
            raise _model_error(self.settings.model, exc) from exc
        return _message_parts(response.choices[0].message)

    async def _acomplete(
        self, messages: list[dict[str, Any]], tools: bool = True
    ) -> tuple[str, list[dict[str, Any]]]:
        try:
            response = await self._litellm.acompletion(**self._kwargs(messages, stream=False, tools=tools))
        except Exception as exc:
            raise _model_error(self.settings.model, exc) from exc
        return _message_parts(response.choices[0].message)

    def run(
        self, conversation: Sequence[Mapping[str, Any]], *, session_id: str, user_id: str | None = None
    ) -> TurnResult:
        with self._turn(conversation, session_id, user_id) as (span, messages):
            documents: list[RetrievedDocument] = []
            if self.settings.mode == "rag":
                return self._run_rag(span, conversation, 1, documents)
            for step in range(1, self.settings.max_steps + 1):
                content, calls = self._complete(messages)
                if self._wants_rag(step, calls):
                    return self._run_rag(span, conversation, step, documents)
                final = self._after_model(span, step, content, calls, messages, documents)
                if final is not None:
                    return self._finish(span, conversation, final, step, documents)
            raise self._out_of_steps()

    async def arun(
        self, conversation: Sequence[Mapping[str, Any]], *, session_id: str, user_id: str | None = None
    ) -> TurnResult:
        with self._turn(conversation, session_id, user_id) as (span, messages):
            documents: list[RetrievedDocument] = []
            if self.settings.mode == "rag":
                return await self._arun_rag(span, conversation, 1, documents)
            for step in range(1, self.settings.max_steps + 1):
                content, calls = await self._acomplete(messages)
                if self._wants_rag(step, calls):
                    return await self._arun_rag(span, conversation, step, documents)
                # tools may block (Chroma, a remote embedder): keep them off the event loop;
                # to_thread copies the context, so their spans still nest under this turn
                final = await asyncio.to_thread(
                    self._after_model, span, step, content, calls, messages, documents
                )
                if final is not None:
                    return self._finish(span, conversation, final, step, documents)
            raise self._out_of_steps()

    def _stream_call(
        self, messages: list[dict[str, Any]], tools: bool, chunks: list[Any], held: list[str] | None
    ) -> Iterator[AgentEvent]:
        """One streamed model call: chunks collected, text deltas yielded (or `held` back)."""
        try:
            for chunk in self._litellm.completion(**self._kwargs(messages, stream=True, tools=tools)):
                chunks.append(chunk)
                delta = chunk.choices[0].delta.content if chunk.choices else None
                if delta and held is not None:
                    held.append(delta)
                elif delta:
                    yield AgentEvent("delta", text=delta)
        except Exception as exc:
            raise _model_error(self.settings.model, exc) from exc

    async def _astream_call(
        self, messages: list[dict[str, Any]], tools: bool, chunks: list[Any], held: list[str] | None
    ) -> AsyncIterator[AgentEvent]:
        try:
            response = await self._litellm.acompletion(**self._kwargs(messages, stream=True, tools=tools))
            async for chunk in response:
                chunks.append(chunk)
                delta = chunk.choices[0].delta.content if chunk.choices else None
                if delta and held is not None:
                    held.append(delta)
                elif delta:
                    yield AgentEvent("delta", text=delta)
        except Exception as exc:
            raise _model_error(self.settings.model, exc) from exc

    def _stream_rag(
        self,
        span: Span,
        conversation: Sequence[Mapping[str, Any]],
        step: int,
        documents: list[RetrievedDocument],
    ) -> Iterator[AgentEvent]:
        with self._rag_span(span, conversation, step) as chain:
            messages = self._rag_messages(conversation, documents)
            chunks: list[Any] = []
            yield from self._stream_call(messages, False, chunks, None)
            content, _ = self._rebuild(chunks, messages)
            answer = self._rag_answer(chain, content)
        yield AgentEvent("done", result=self._finish(span, conversation, answer, step, documents))

    async def _astream_rag(
        self,
        span: Span,
        conversation: Sequence[Mapping[str, Any]],
        step: int,
        documents: list[RetrievedDocument],
    ) -> AsyncIterator[AgentEvent]:
        with self._rag_span(span, conversation, step) as chain:
            messages = await asyncio.to_thread(self._rag_messages, conversation, documents)
            chunks: list[Any] = []
            async for event in self._astream_call(messages, False, chunks, None):
                yield event
            content, _ = self._rebuild(chunks, messages)
            answer = self._rag_answer(chain, content)
        yield AgentEvent("done", result=self._finish(span, conversation, answer, step, documents))

    # In agent mode the first step's text is held back until the step is over: a reply
    # without a tool call is replaced by the RAG path, and its text must not reach the user.
    def stream(
        self, conversation: Sequence[Mapping[str, Any]], *, session_id: str, user_id: str | None = None
    ) -> Iterator[AgentEvent]:
        with self._turn(conversation, session_id, user_id) as (span, messages):
            documents: list[RetrievedDocument] = []
            if self.settings.mode == "rag":
                yield from self._stream_rag(span, conversation, 1, documents)
                return
            for step in range(1, self.settings.max_steps + 1):
                chunks: list[Any] = []
                held: list[str] | None = [] if step == 1 else None
                yield from self._stream_call(messages, True, chunks, held)
                content, calls = self._rebuild(chunks, messages)
                if self._wants_rag(step, calls):
                    yield from self._stream_rag(span, conversation, step, documents)
                    return
                for text in held or ():
                    yield AgentEvent("delta", text=text)
                for call in calls:
                    yield AgentEvent("tool", text=str(call["function"]["name"]))
                final = self._after_model(span, step, content, calls, messages, documents)
                if final is not None:
                    yield AgentEvent("done", result=self._finish(span, conversation, final, step, documents))
                    return
            raise self._out_of_steps()

    async def astream(
        self, conversation: Sequence[Mapping[str, Any]], *, session_id: str, user_id: str | None = None
    ) -> AsyncIterator[AgentEvent]:
        with self._turn(conversation, session_id, user_id) as (span, messages):
            documents: list[RetrievedDocument] = []
            if self.settings.mode == "rag":
                async for event in self._astream_rag(span, conversation, 1, documents):
                    yield event
                return
            for step in range(1, self.settings.max_steps + 1):
                chunks: list[Any] = []
                held: list[str] | None = [] if step == 1 else None
                async for event in self._astream_call(messages, True, chunks, held):
                    yield event
                content, calls = self._rebuild(chunks, messages)
                if self._wants_rag(step, calls):
                    async for event in self._astream_rag(span, conversation, step, documents):
                        yield event
                    return
                for text in held or ():
                    yield AgentEvent("delta", text=text)
                for call in calls:
                    yield AgentEvent("tool", text=str(call["function"]["name"]))
                final = await asyncio.to_thread(
                    self._after_model, span, step, content, calls, messages, documents
                )
                if final is not None:
                    yield AgentEvent("done", result=self._finish(span, conversation, final, step, documents))
                    return
            raise self._out_of_steps()

    def _rebuild(self, chunks: list[Any], messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
        if not chunks:
            raise AgentError(f"the model {self.settings.model!r} returned an empty stream")
        full = self._litellm.stream_chunk_builder(chunks, messages=messages)
        return _message_parts(full.choices[0].message)
