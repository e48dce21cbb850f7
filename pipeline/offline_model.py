"""`spanguard-local/extractive`: the offline stand-in model, registered with LiteLLM.

This is NOT a language model. It is a small deterministic program that speaks the chat
completions protocol so the reference pipeline runs (and is traced exactly like a real
provider) with no network and no weights. It is registered through LiteLLM's
custom-provider hook (`litellm.custom_provider_map`), so every call still goes through
`litellm.completion` / `acompletion` and the OpenInference instrumentor records it.

Behaviour, per turn:
1. no search result yet and a search tool offered -> it calls the search tool with the
   user's question;
2. search results present -> it answers extractively: the sentences of the retrieved
   passages sharing the most content words with the question, with their sources;
3. nothing shares enough words with the question -> it says plainly that the handbook
   has nothing relevant, instead of making something up.

Personal details around a question ("I'm Max, max@example.org, +49 170 1234567. How do I
file travel expenses?") are not its topic: contact details, phone and account numbers
and redaction markers are dropped, and when the message holds a question sentence only
the question sentences count (they are also what it searches for). A few everyday words
map to the handbook's own ("file" an expense = "submit" it, "vacation" = "leave").
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from litellm.llms.custom_llm import CustomLLM
from litellm.types.llms.openai import ChatCompletionToolCallChunk, ChatCompletionToolCallFunctionChunk
from litellm.types.utils import GenericStreamingChunk, ModelResponse

from spanguard.pipeline.text_terms import content_terms

PROVIDER = "spanguard-local"
MODEL_NAME = f"{PROVIDER}/extractive"
SEARCH_TOOL_NAME = "search_handbook"
NOTHING_FOUND = (
    "I could not find anything relevant to that question in the handbook, so I cannot answer it from there."
)
_MAX_SENTENCES = 2
_STREAM_PIECE_WORDS = 4
_CONTACT = re.compile(r"\S+@\S+|\b(?:https?|ftp)://\S+", re.IGNORECASE)
# phone numbers, IBANs, card and account numbers: runs of digits with spaces, dashes,
# slashes or brackets, optionally after a country code or two letters (IBAN)
_NUMBERS = re.compile(r"(?:\+|\b[A-Z]{2}\d{2})?[\d(][\d ()/-]{5,}\d|\[REDACTED:[^\]]*\]")
# everyday words -> the handbook's (after stemming)
_SYNONYMS = {
    "file": "submit",
    "claim": "submit",
    "vacation": "leave",
    "vacat": "leave",
    "holiday": "leave",
    "pto": "leave",
    "refund": "reimburs",
}


@dataclass(frozen=True)
class _Decision:
    content: str | None = None
    tool_name: str | None = None
    tool_arguments: str | None = None


def _text_of(message: Any) -> str:
    content = message.get("content") if isinstance(message, dict) else getattr(message, "content", None)
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _role_of(message: Any) -> str:
    return str(message.get("role") if isinstance(message, dict) else getattr(message, "role", ""))


def _tool_names(tools: Sequence[Any] | None) -> set[str]:
    names: set[str] = set()
    for tool in tools or ():
        function = tool.get("function", {}) if isinstance(tool, dict) else {}
        if isinstance(function, dict) and function.get("name"):
            names.add(str(function["name"]))
    return names


def _passages(payloads: Sequence[str]) -> list[tuple[str, str]]:
    """(citation, text) pairs from search-tool results (JSON) or plain context."""
    passages: list[tuple[str, str]] = []
    for payload in payloads:
        try:
            data = json.loads(payload)
        except (ValueError, TypeError):
            data = None
        results = data.get("results") if isinstance(data, dict) else None
        if isinstance(results, list):
            for item in results:
                if isinstance(item, dict) and isinstance(item.get("content"), str):
                    heading = str(item.get("heading") or "")
                    source = str(item.get("source") or item.get("id") or "")
                    passages.append((f"{source} § {heading}" if heading else source, item["content"]))
        elif payload.strip():
            passages.extend(_cited_paragraphs(payload))
    return passages


_CITED = re.compile(r"^\[([^\]\n]+)\]\s+(.+)$", re.DOTALL)


def _cited_paragraphs(text: str) -> list[tuple[str, str]]:
    """Plain-RAG context: `[source] passage` paragraphs (the instructions before them are
    not a passage); uncited text as one `context` passage."""
    cited = [match.groups() for match in (_CITED.match(part.strip()) for part in text.split("\n\n")) if match]
    return [(source, passage) for source, passage in cited] if cited else [("context", text)]


def _sentences(text: str) -> list[str]:
    flat = " ".join(text.split())
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", flat) if s.strip()]


def _relevance_terms(text: str) -> set[str]:
    """`content_terms`, with the short plurals its stemmer keeps (dogs, days) made singular,
    so "my dog" matches "Dogs are welcome". Only relevance uses this; the embedder's
    features stay as they are, so existing indexes keep matching their queries."""
    singular = {
        term[:-1] if len(term) == 4 and term.endswith("s") and not term.endswith(("ss", "us", "is")) else term
        for term in content_terms(text)
    }
    return {_SYNONYMS.get(term, term) for term in singular}


def focus_question(text: str) -> str:
    """The question in a message, without the personal details around it (see above)."""
    plain = " ".join(_NUMBERS.sub(" ", _CONTACT.sub(" ", text)).split())
    questions = [s for s in _sentences(plain) if s.endswith("?")]
    return " ".join(questions) if questions else plain


def extractive_answer(question: str, payloads: Sequence[str]) -> str:
    """The best-matching sentences of the passages, or a plain "nothing relevant"."""
    wanted = _relevance_terms(focus_question(question))
    if not wanted:
        return NOTHING_FOUND
    scored: list[tuple[float, int, str, str]] = []
    order = 0
    for citation, text in _passages(payloads):
        for sentence in _sentences(text):
            overlap = wanted & _relevance_terms(sentence)
            if overlap:
                scored.append((float(len(overlap)), -order, sentence, citation))
            order += 1
    # a third of the question's content words in one sentence, and never a single shared
    # word for a longer question: "Can I bring my dog to the office?" is not answered by a
    # sentence that merely mentions an office
    needed = max(1 if len(wanted) < 3 else 2, math.ceil(len(wanted) / 3))
    if not scored or max(s[0] for s in scored) < needed:
        return NOTHING_FOUND
    best = sorted(scored, reverse=True)[:_MAX_SENTENCES]
    # a runner-up only when it matches as well: a weaker second sentence dilutes the answer
    best = [item for item in best if item[0] >= best[0][0]]
    text = " ".join(item[2] for item in best)
    sources = ", ".join(dict.fromkeys(item[3] for item in best))
    return f"{text}\n\nSources: {sources}"


def decide(messages: Sequence[Any], tools: Sequence[Any] | None) -> _Decision:
    """What the stand-in says next, given the conversation so far."""
    last_user = max((i for i, m in enumerate(messages) if _role_of(m) == "user"), default=-1)
    question = _text_of(messages[last_user]) if last_user >= 0 else ""
    tool_results = [_text_of(m) for m in messages[last_user + 1 :] if _role_of(m) == "tool"]
    if not tool_results and SEARCH_TOOL_NAME in _tool_names(tools):
        query = focus_question(question) or question
        return _Decision(tool_name=SEARCH_TOOL_NAME, tool_arguments=json.dumps({"query": query}))
    if not tool_results:  # plain RAG: the context came in the prompt itself
        tool_results = [_text_of(m) for m in messages[:last_user] if _role_of(m) == "system"]
        tool_results += [_text_of(m) for m in messages[last_user + 1 :]]
    return _Decision(content=extractive_answer(question, tool_results))


def _count_tokens(messages: Sequence[Any]) -> int:
    return sum(len(_text_of(m).split()) for m in messages)


class OfflineExtractiveLLM(CustomLLM):
    """LiteLLM custom provider; see the module docstring. Stateless and thread-safe."""

    def _fill(
        self, model_response: ModelResponse, model: str, messages: list[Any], optional_params: dict[str, Any]
    ) -> ModelResponse:
        from litellm.types.utils import ChatCompletionMessageToolCall, Function, Message, Usage

        decision = decide(messages, optional_params.get("tools"))
        choice = model_response.choices[0]
        if decision.tool_name:
            call = ChatCompletionMessageToolCall(
                id=f"call_{uuid.uuid4().hex[:12]}",
                type="function",
                function=Function(name=decision.tool_name, arguments=decision.tool_arguments or "{}"),
            )
            choice.message = Message(content=None, role="assistant", tool_calls=[call])
            choice.finish_reason = "tool_calls"
            completion_tokens = len((decision.tool_arguments or "").split())
        else:
            choice.message = Message(content=decision.content, role="assistant")
            choice.finish_reason = "stop"
            completion_tokens = len((decision.content or "").split())
        prompt_tokens = _count_tokens(messages)
        model_response.model = model
        model_response.created = int(time.time())
        model_response.usage = Usage(  # type: ignore[attr-defined]
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        )
        return model_response

    def _chunks(
        self, messages: list[Any], optional_params: dict[str, Any]
    ) -> Iterator[GenericStreamingChunk]:
        decision = decide(messages, optional_params.get("tools"))
        prompt_tokens = _count_tokens(messages)
        if decision.tool_name:
            yield GenericStreamingChunk(
                text="",
                is_finished=True,
                finish_reason="tool_calls",
                index=0,
                usage={
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": 1,
                    "total_tokens": prompt_tokens + 1,
                },
                tool_use=ChatCompletionToolCallChunk(
                    id=f"call_{uuid.uuid4().hex[:12]}",
                    type="function",
                    index=0,
                    function=ChatCompletionToolCallFunctionChunk(
                        name=decision.tool_name, arguments=decision.tool_arguments or "{}"
                    ),
                ),
            )
            return
        words = (decision.content or "").split(" ")
        step = _STREAM_PIECE_WORDS
        pieces = [" ".join(words[i : i + step]) for i in range(0, len(words), step)]
        for position, piece in enumerate(pieces):
            last = position == len(pieces) - 1
            yield GenericStreamingChunk(
                text=piece if position == 0 else " " + piece,
                is_finished=last,
                finish_reason="stop" if last else "",
                index=0,
                tool_use=None,
                usage=(
                    {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": len(words),
                        "total_tokens": prompt_tokens + len(words),
                    }
                    if last
                    else None
                ),
            )

    def completion(
        self,
        model: str,
        messages: list,
        api_base: str,
        custom_prompt_dict: dict,
        model_response: ModelResponse,
        print_verbose: Any,
        encoding: Any,
        api_key: Any,
        logging_obj: Any,
        optional_params: dict,
        *args: Any,
        **kwargs: Any,
    ) -> ModelResponse:
        return self._fill(model_response, model, messages, optional_params)

    async def acompletion(
        self,
        model: str,
        messages: list,
        api_base: str,
        custom_prompt_dict: dict,
        model_response: ModelResponse,
        print_verbose: Any,
        encoding: Any,
        api_key: Any,
        logging_obj: Any,
        optional_params: dict,
        *args: Any,
        **kwargs: Any,
    ) -> ModelResponse:
        return self._fill(model_response, model, messages, optional_params)

    def streaming(
        self,
        model: str,
        messages: list,
        api_base: str,
        custom_prompt_dict: dict,
        model_response: ModelResponse,
        print_verbose: Any,
        encoding: Any,
        api_key: Any,
        logging_obj: Any,
        optional_params: dict,
        *args: Any,
        **kwargs: Any,
    ) -> Iterator[GenericStreamingChunk]:
        yield from self._chunks(messages, optional_params)

    # LiteLLM iterates what astreaming returns; an async generator is what its own
    # examples use, though the base class annotates a coroutine.
    async def astreaming(  # type: ignore[override]
        self,
        model: str,
        messages: list,
        api_base: str,
        custom_prompt_dict: dict,
        model_response: ModelResponse,
        print_verbose: Any,
        encoding: Any,
        api_key: Any,
        logging_obj: Any,
        optional_params: dict,
        *args: Any,
        **kwargs: Any,
    ) -> AsyncIterator[GenericStreamingChunk]:
        for chunk in self._chunks(messages, optional_params):
            yield chunk


_HANDLER = OfflineExtractiveLLM()


def register_offline_model(litellm: ModuleType) -> None:
    """Add the provider to `litellm.custom_provider_map` once, keeping others' entries."""
    entries = list(getattr(litellm, "custom_provider_map", None) or [])
    if any(entry.get("provider") == PROVIDER for entry in entries):
        return
    entries.append({"provider": PROVIDER, "custom_handler": _HANDLER})
    litellm.custom_provider_map = entries  # type: ignore[attr-defined]
    # custom_provider_map is read into these at import; refresh them as LiteLLM's docs do
    from litellm.utils import custom_llm_setup

    custom_llm_setup()
