"""The chat page's session behaviour in a real browser (Debian's Chromium via Selenium),
against the chat service on a real uvicorn server: the page makes a
`session_<timestamp>_<random>` id, sends it with every turn of a conversation (so the
turns group into one Phoenix session), and starts a new one on "New conversation"."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from support_browser import ask_chat
from support_pipeline import TracedPipeline, UvicornThread

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAGE_SESSION_RE = re.compile(r"^session_(\d{13})_([0-9a-f]{8})$")
WAIT_S = 60


@pytest.fixture
def page_server(_session_pipeline: TracedPipeline) -> Iterator[UvicornThread]:
    from spanguard.pipeline.service import create_app

    server = UvicornThread(create_app(_session_pipeline.runtime)).start()
    yield server
    server.stop()


def _session_label(driver: WebDriver) -> str:
    return str(driver.find_element(By.ID, "session").text)


def _agent_spans(traced: TracedPipeline) -> list[dict[str, Any]]:
    return sorted((s for s in traced.span_dicts() if s["kind"] == "AGENT"), key=lambda s: s["start_time_ns"])


def test_page_keeps_its_session_across_turns_and_starts_a_new_one(
    page_server: UvicornThread, browser: WebDriver, traced_pipeline: TracedPipeline
) -> None:
    opened_ms = int(time.time() * 1000)
    browser.get(f"{page_server.base_url}/")
    first_session = _session_label(browser)
    match = PAGE_SESSION_RE.match(first_session)
    assert match, first_session
    assert abs(int(match.group(1)) - opened_ms) < 3_600_000  # a millisecond timestamp, not a counter

    assert "14 characters" in ask_chat(browser, "How long must passwords be?", WAIT_S)
    assert "six months" in ask_chat(browser, "How long does probation last?", WAIT_S)
    assert _session_label(browser) == first_session
    assert len(browser.find_elements(By.CSS_SELECTOR, "#log .msg")) == 4

    turns = _agent_spans(traced_pipeline)
    assert [s["attributes"]["session.id"] for s in turns] == [first_session, first_session]
    assert len({s["trace_id"] for s in turns}) == 2
    # the second turn carried the conversation so far: system, user, assistant, user
    second_llm = min(
        (
            s
            for s in traced_pipeline.span_dicts()
            if s["kind"] == "LLM" and s["trace_id"] == turns[1]["trace_id"]
        ),
        key=lambda s: s["start_time_ns"],
    )
    roles = [second_llm["attributes"].get(f"llm.input_messages.{i}.message.role") for i in range(5)]
    assert roles == ["system", "user", "assistant", "user", None]

    traced_pipeline.exporter.clear()
    browser.find_element(By.ID, "new-conversation").click()
    second_session = _session_label(browser)
    assert PAGE_SESSION_RE.match(second_session), second_session
    assert second_session != first_session
    assert browser.find_elements(By.CSS_SELECTOR, "#log .msg") == []

    assert "60 euros" in ask_chat(browser, "What is the per diem for meals outside Europe?", WAIT_S)
    [turn] = _agent_spans(traced_pipeline)
    assert turn["attributes"]["session.id"] == second_session
    first_llm = min(
        (s for s in traced_pipeline.span_dicts() if s["kind"] == "LLM"), key=lambda s: s["start_time_ns"]
    )
    assert "llm.input_messages.2.message.role" not in first_llm["attributes"]  # no old history


# The page's fetch with the session id left out of the first request, as a client that
# lost it would send: the server makes one, and the page must adopt it from the response.
_DROP_FIRST_SESSION_ID = """
const original = window.fetch;
window.sentSessions = [];
window.fetch = (url, init) => {
  const body = JSON.parse(init.body);
  window.sentSessions.push(body.session_id === undefined ? null : body.session_id);
  if (window.sentSessions.length === 1) delete body.session_id;
  return original(url, { ...init, body: JSON.stringify(body) });
};
"""


def test_page_adopts_the_session_id_the_server_returns(
    page_server: UvicornThread, browser: WebDriver, traced_pipeline: TracedPipeline
) -> None:
    browser.get(f"{page_server.base_url}/")
    page_session = _session_label(browser)
    browser.execute_script(_DROP_FIRST_SESSION_ID)

    assert "14 characters" in ask_chat(browser, "How long must passwords be?", WAIT_S)
    [first_turn] = _agent_spans(traced_pipeline)
    server_session = first_turn["attributes"]["session.id"]
    assert server_session != page_session and PAGE_SESSION_RE.match(server_session)
    assert _session_label(browser) == server_session  # shown, and ...

    assert "six months" in ask_chat(browser, "How long does probation last?", WAIT_S)
    sent = browser.execute_script("return window.sentSessions;")
    assert sent == [page_session, server_session]  # ... sent with the next turn
    turns = _agent_spans(traced_pipeline)
    assert [t["name"] for t in turns] == ["chat_turn", "chat_turn"]  # the homework's span name
    assert [t["attributes"]["session.id"] for t in turns] == [server_session, server_session]


def test_page_shows_a_refused_turn_and_can_go_on(
    page_server: UvicornThread, browser: WebDriver, traced_pipeline: TracedPipeline
) -> None:
    browser.get(f"{page_server.base_url}/")
    session = _session_label(browser)
    box = browser.find_element(By.ID, "question")
    # longer than the service's max_message_chars: the page shows the service's 413 message
    browser.execute_script("arguments[0].value = 'x'.repeat(9000);", box)
    browser.find_element(By.ID, "send").click()
    error = WebDriverWait(browser, WAIT_S).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#log .msg.error")
    )[0]
    assert "longer than 8000 characters" in error.text
    assert browser.find_elements(By.CSS_SELECTOR, "#log .msg.assistant") == []
    assert "14 characters" in ask_chat(browser, "How long must passwords be?", WAIT_S)
    assert _session_label(browser) == session
    [turn] = _agent_spans(traced_pipeline)
    # the refused message was dropped from the history the page sends
    assert turn["attributes"]["input.value"] == "How long must passwords be?"
    llm = min(
        (s for s in traced_pipeline.span_dicts() if s["kind"] == "LLM"), key=lambda s: s["start_time_ns"]
    )
    assert "llm.input_messages.2.message.role" not in llm["attributes"]


class _SlowRetriever:
    """The handbook retriever behind a slow link, so a turn is still running when the
    user clicks "New conversation"."""

    def __init__(self, inner: Any, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s

    def retrieve(self, query: str, top_k: int) -> list[Any]:
        time.sleep(self.delay_s)
        return list(self.inner.retrieve(query, top_k))


def test_new_conversation_during_a_turn_keeps_the_old_reply_out(
    browser: WebDriver, traced_pipeline: TracedPipeline
) -> None:
    import dataclasses

    from spanguard.pipeline.agent import HandbookAgent
    from spanguard.pipeline.service import create_app

    runtime = traced_pipeline.runtime
    agent = HandbookAgent(_SlowRetriever(runtime.retriever, 1.5), runtime.tracer, runtime.agent.settings)
    server = UvicornThread(create_app(dataclasses.replace(runtime, agent=agent))).start()
    try:
        browser.get(f"{server.base_url}/")
        old_session = _session_label(browser)
        browser.find_element(By.ID, "question").send_keys("How long must passwords be?")
        browser.find_element(By.ID, "send").click()
        browser.find_element(By.ID, "new-conversation").click()  # while the turn is still searching
        new_session = _session_label(browser)
        assert new_session != old_session

        def old_turn_over(d: WebDriver) -> bool:
            ended = [s for s in _agent_spans(traced_pipeline) if s["attributes"]["session.id"] == old_session]
            return bool(ended) and d.find_element(By.ID, "send").is_enabled()

        WebDriverWait(browser, WAIT_S, poll_frequency=0.1).until(old_turn_over)
        assert browser.find_elements(By.CSS_SELECTOR, "#log .msg") == []  # the late reply is not shown
        traced_pipeline.exporter.clear()

        assert "six months" in ask_chat(browser, "How long does probation last?", WAIT_S)
    finally:
        server.stop()
    [turn] = _agent_spans(traced_pipeline)
    assert turn["attributes"]["session.id"] == new_session
    first_llm = min(
        (s for s in traced_pipeline.span_dicts() if s["kind"] == "LLM"), key=lambda s: s["start_time_ns"]
    )
    assert "llm.input_messages.2.message.role" not in first_llm["attributes"]  # no history from the old one
