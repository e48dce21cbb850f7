"""The plain RAG path (retrieve, then one LiteLLM call; no tools), for the tutorial helpers.

`litellm_answer_fn(model)` is an `answer_fn(question, context_chunks) -> str` (strings, as
the tutorials pass them) that puts the passages in the system prompt; `cited` labels a
retrieved document with its source, for the chunks the pipeline passes. With the offline
stand-in it answers extractively from that prompt; with a real model it is the classic
"stuff the context" RAG call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spanguard.pipeline.llm_client import import_litellm
from spanguard.pipeline.retrieval import RetrievedDocument
from spanguard.pipeline.tracing import AnswerFn

RAG_SYSTEM_PROMPT = (
    "Answer the question using only the handbook passages below, citing their "
    "sources. If they do not contain the answer, say so plainly.\n\n"
)


def cited(document: RetrievedDocument) -> str:
    """`[source] passage`: the model can cite where each passage came from."""
    source = str(document.metadata.get("source") or document.id)
    heading = document.metadata.get("heading")
    return f"[{source} § {heading}] {document.content}" if heading else f"[{source}] {document.content}"


def litellm_answer_fn(model: str, *, api_base: str | None = None, timeout_s: float = 60.0) -> AnswerFn:
    litellm = import_litellm()

    def answer(question: str, context_chunks: Sequence[str]) -> str:
        context = "\n\n".join(context_chunks)
        kwargs: dict[str, Any] = {
            "model": model,
            "timeout": timeout_s,
            "messages": [
                {"role": "system", "content": RAG_SYSTEM_PROMPT + context},
                {"role": "user", "content": question},
            ],
        }
        if api_base:
            kwargs["api_base"] = api_base
        try:
            response = litellm.completion(**kwargs)
        except Exception as exc:
            from spanguard.pipeline.agent import ModelCallError  # agent imports this module

            raise ModelCallError(f"the model call to {model!r} failed ({type(exc).__name__})") from exc
        return str(response.choices[0].message.content or "")

    return answer
