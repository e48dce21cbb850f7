"""A real browser against the local stack: Debian's Chromium, driven by Selenium.

The chat page answers two questions in one session (an e-mail address in the first, a
card number in the second); then Phoenix's own UI, opened at that session, shows the
session's traces with the planted values replaced by redaction markers. Screenshots of
both pages are kept in test-artifacts/ whether the test passes or fails.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from support_browser import ask_chat
from support_stack import RunningStack

pytestmark = [pytest.mark.browser, pytest.mark.phoenix, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
EMAIL = "ada.lovelace@example.net"
CARD = "4012 8888 8888 1881"  # a Visa test number: passes Luhn
QUESTIONS = (
    f"How many days of annual leave do I get? You can reach me at {EMAIL}.",
    f"I paid with my card {CARD}. What is the per diem for meals outside Europe?",
)
WAIT_S = 120


def screenshot(driver: WebDriver, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def session_in_phoenix(stack: RunningStack, session_id: str, traces: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = httpx.get(f"{stack.phoenix_url}/v1/sessions/{session_id}", timeout=10, trust_env=False)
        if response.status_code == 200 and len(response.json()["data"]["traces"]) >= traces:
            return dict(response.json()["data"])
        time.sleep(0.5)
    raise AssertionError(f"Phoenix never showed session {session_id} with {traces} traces")


def test_chat_page_session_shows_up_redacted_in_the_phoenix_ui(
    running_stack: RunningStack, browser: WebDriver
) -> None:
    browser.get(f"{running_stack.chat_url}/")
    try:
        session_id = browser.find_element(By.ID, "session").text
        assert session_id.startswith("session_")
        answers = [ask_chat(browser, question, WAIT_S) for question in QUESTIONS]
        assert all(answers)
        # the same conversation throughout: one session id, four bubbles
        assert browser.find_element(By.ID, "session").text == session_id
        assert len(browser.find_elements(By.CSS_SELECTOR, "#log .msg")) == 4
    finally:
        screenshot(browser, "chat-page")

    session = session_in_phoenix(running_stack, session_id, traces=len(QUESTIONS))
    trace_ids = [trace["trace_id"] for trace in session["traces"]]
    assert len(trace_ids) == len(QUESTIONS)

    url = f"{running_stack.phoenix_url}/projects/{session['project_id']}/sessions/{session['id']}"
    browser.get(url)
    try:

        def shows_session(d: WebDriver) -> bool:
            try:
                text = d.find_element(By.TAG_NAME, "body").text
            except WebDriverException:
                return False
            return session_id in text and all(trace_id in text for trace_id in trace_ids)

        WebDriverWait(browser, WAIT_S, poll_frequency=0.5).until(shows_session)
        text = browser.find_element(By.TAG_NAME, "body").text
        assert "[REDACTED:email]" in text
        assert "[REDACTED:credit_card]" in text
        for planted in (EMAIL, CARD, CARD.replace(" ", "")):
            assert planted not in text
    finally:
        screenshot(browser, "phoenix-session")


def test_the_demo_chat_page_and_its_phoenix_session_view(
    running_stack: RunningStack, browser: WebDriver
) -> None:
    """What a user of `tasks.py demo` sees: the demo's questions asked in its chat page,
    and the Phoenix session page the demo printed, with the made-up values the demo shows
    replaced by markers. Screenshots: demo-chat-page.png, demo-phoenix-session.png."""
    import re

    from spanguard.stack.demo import DEMO_QUESTIONS, PLANTED_CARD, PLANTED_EMAIL

    printed = re.search(r"^\[demo\] Phoenix session:  (\S+)$", running_stack.output(), re.MULTILINE)
    demo_session = re.search(r"^\[demo\] session (\S+): ", running_stack.output(), re.MULTILINE)
    assert printed and demo_session, running_stack.output()[-3000:]

    browser.get(f"{running_stack.chat_url}/")
    try:
        answers = [ask_chat(browser, question, WAIT_S) for question in DEMO_QUESTIONS]
        assert "27 days of paid annual leave" in answers[0]
        assert "60 euros" in answers[1]
        page = browser.find_element(By.TAG_NAME, "body").text
        assert PLANTED_EMAIL in page  # the user's own question, as typed
    finally:
        screenshot(browser, "demo-chat-page")

    browser.get(printed[1])
    try:

        def shows_demo_session(d: WebDriver) -> bool:
            try:
                text = d.find_element(By.TAG_NAME, "body").text
            except WebDriverException:
                return False
            return demo_session[1] in text and "[REDACTED:email]" in text and "[REDACTED:credit_card]" in text

        WebDriverWait(browser, WAIT_S, poll_frequency=0.5).until(shows_demo_session)
        text = browser.find_element(By.TAG_NAME, "body").text
        for planted in (PLANTED_EMAIL, PLANTED_CARD, PLANTED_CARD.replace(" ", "")):
            assert planted not in text
    finally:
        screenshot(browser, "demo-phoenix-session")
