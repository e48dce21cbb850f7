"""The README's demo: a short scripted chat that carries planted PII through the stack.

The point is to let a user see redaction work end to end without typing anything: one
session, two turns, an e-mail address and a card number in the questions (both are
documentation values: an example.com address and the well-known Visa test number).
Afterwards the demo asks Phoenix's REST API for that session and reports what arrived
— how many traces and spans, how many redaction markers, and whether either planted
value got through — then prints the links to look at. It never prints a value it
read from Phoenix, only counts. The planted values themselves are shown as sent: they
are made up (documentation values, no one's data), and a user who can read them can
search Phoenix for them and find only the redaction markers in their place.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from spanguard.errors import SpanguardError

PLANTED_EMAIL = "dana.demo@example.com"
PLANTED_CARD = "4111 1111 1111 1111"
# questions the bundled handbook answers, so the traces show retrieval and an answer
DEMO_QUESTIONS: tuple[str, ...] = (
    f"How many days of annual leave do I get? You can reach me at {PLANTED_EMAIL}.",
    f"I paid with my card {PLANTED_CARD}. What is the per diem for meals outside Europe?",
)
REDACTION_MARKER = "[REDACTED"


class DemoError(SpanguardError):
    """The scripted conversation could not run (the chat service failed to answer)."""


@dataclass
class PhoenixSession:
    """What Phoenix knows about one chat session, by ids and counts only."""

    session_id: str
    node_id: str
    project_id: str
    trace_ids: list[str]
    spans: int = 0
    markers: int = 0
    planted_values_found: int = 0

    def url(self, phoenix_base: str) -> str:
        return f"{phoenix_base}/projects/{self.project_id}/sessions/{self.node_id}"

    def project_url(self, phoenix_base: str) -> str:
        return f"{phoenix_base}/projects/{self.project_id}"


@dataclass
class DemoResult:
    session_id: str
    answers: list[str] = field(default_factory=list)
    phoenix: PhoenixSession | None = None


def new_session_id() -> str:
    return f"stack-demo-{uuid.uuid4().hex[:12]}"


def answer_text(body: Any) -> str:
    """The assistant's text from a /chat response, whichever common shape it has."""
    if isinstance(body, str):
        return body
    if isinstance(body, Mapping):
        for key in ("answer", "content", "reply", "text", "output"):
            value = body.get(key)
            if isinstance(value, str):
                return value
        conversation = body.get("messages")
        if isinstance(conversation, Sequence) and not isinstance(conversation, str):
            # the chat service returns the conversation with the new answer last
            for item in reversed(conversation):
                if isinstance(item, Mapping) and item.get("role") == "assistant":
                    content = item.get("content")
                    if isinstance(content, str) and content:
                        return content
        message = body.get("message")
        if isinstance(message, Mapping) and isinstance(message.get("content"), str):
            return str(message["content"])
        choices = body.get("choices")
        if isinstance(choices, Sequence) and choices:
            return answer_text(choices[0])
    return json.dumps(body)[:2000]


def chat_turn(
    client: httpx.Client,
    chat_url: str,
    messages: Sequence[Mapping[str, str]],
    session_id: str,
    timeout_s: float = 120.0,
) -> str:
    """One POST /chat with the whole conversation so far; returns the answer text."""
    try:
        response = client.post(
            f"{chat_url}/chat",
            json={"messages": list(messages), "session_id": session_id},
            timeout=timeout_s,
        )
    except httpx.HTTPError as exc:
        raise DemoError(f"the chat service did not answer: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise DemoError(f"the chat service answered HTTP {response.status_code}")
    try:
        return answer_text(response.json())
    except ValueError:
        return response.text


def run_conversation(
    chat_url: str,
    session_id: str,
    questions: Sequence[str] = DEMO_QUESTIONS,
    say: Callable[[str], None] = print,
) -> list[str]:
    """Ask each question in one session, carrying the history, and print the exchange."""
    messages: list[dict[str, str]] = []
    answers: list[str] = []
    with httpx.Client(trust_env=False) as client:
        for question in questions:
            messages.append({"role": "user", "content": question})
            say(f"[demo] you: {question}")
            answer = chat_turn(client, chat_url, messages, session_id)
            say(f"[demo] assistant: {' '.join(answer.split())}")
            messages.append({"role": "assistant", "content": answer})
            answers.append(answer)
    return answers


def find_session(
    phoenix_base: str,
    session_id: str,
    *,
    expected_traces: int,
    timeout_s: float = 45.0,
    planted: Sequence[str] = (PLANTED_EMAIL, PLANTED_CARD),
    should_stop: Callable[[], bool] = lambda: False,
) -> PhoenixSession | None:
    """Poll Phoenix until the session holds `expected_traces` traces; then count its spans.

    Spans reach Phoenix asynchronously (app batch -> sidecar queue -> Phoenix insert),
    so this waits. None when the session never shows up in time.
    """
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=phoenix_base, trust_env=False, timeout=10.0) as client:
        session: PhoenixSession | None = None
        while time.monotonic() < deadline and not should_stop():
            session = _get_session(client, session_id)
            if session is not None and len(session.trace_ids) >= expected_traces:
                break
            time.sleep(0.5)
        if session is None:
            return None
        _count_spans(client, session, planted)
        return session


def _get_session(client: httpx.Client, session_id: str) -> PhoenixSession | None:
    try:
        response = client.get(f"/v1/sessions/{session_id}")
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    data = response.json()["data"]
    return PhoenixSession(
        session_id=session_id,
        node_id=data["id"],
        project_id=data["project_id"],
        trace_ids=[trace["trace_id"] for trace in data.get("traces", [])],
    )


def session_spans(client: httpx.Client, project_id: str, trace_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Every span of the project that belongs to one of `trace_ids` (REST, paginated)."""
    wanted = set(trace_ids)
    spans: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        response = client.get(f"/v1/projects/{project_id}/spans", params=params)
        response.raise_for_status()
        body = response.json()
        spans.extend(span for span in body["data"] if span.get("context", {}).get("trace_id") in wanted)
        cursor = body.get("next_cursor")
        if not cursor:
            return spans


def _count_spans(client: httpx.Client, session: PhoenixSession, planted: Sequence[str]) -> None:
    spans = session_spans(client, session.project_id, session.trace_ids)
    text = json.dumps(spans)
    session.spans = len(spans)
    session.markers = text.count(REDACTION_MARKER)
    session.planted_values_found = sum(
        1 for value in planted if value in text or value.replace(" ", "") in text
    )


def report(result: DemoResult, chat_url: str, phoenix_base: str, say: Callable[[str], None] = print) -> None:
    """Tell the user where to look, and what the demo found there (counts only)."""
    say("")
    say(f"[demo] chat page:        {chat_url}/")
    session = result.phoenix
    if session is None:
        say(f"[demo] Phoenix:          {phoenix_base}/  (session {result.session_id} has not arrived yet;")
        say("[demo]                   open Sessions in the project and refresh in a few seconds)")
        return
    say(f"[demo] Phoenix project:  {session.project_url(phoenix_base)}")
    say(f"[demo] Phoenix session:  {session.url(phoenix_base)}")
    say(
        f"[demo] session {session.session_id}: {len(session.trace_ids)} traces, {session.spans} spans, "
        f"{session.markers} redaction markers"
    )
    if session.planted_values_found:
        say(f"[demo] WARNING: {session.planted_values_found} planted value(s) reached Phoenix unredacted")
    else:
        say(f"[demo] the planted values did not reach Phoenix: search it for {PLANTED_EMAIL} or")
        say(f"[demo]   {PLANTED_CARD} (made up, for the demo) and find [REDACTED:...] markers in their place")


def run_demo(
    chat_url: str,
    phoenix_base: str,
    *,
    say: Callable[[str], None] = print,
    should_stop: Callable[[], bool] = lambda: False,
) -> DemoResult:
    result = DemoResult(session_id=new_session_id())
    say(
        f"[demo] session {result.session_id}: {len(DEMO_QUESTIONS)} questions with planted PII "
        f"(made up: {PLANTED_EMAIL}, card {PLANTED_CARD})"
    )
    result.answers = run_conversation(chat_url, result.session_id, say=say)
    result.phoenix = find_session(
        phoenix_base, result.session_id, expected_traces=len(DEMO_QUESTIONS), should_stop=should_stop
    )
    report(result, chat_url, phoenix_base, say)
    return result
