"""Headless Debian Chromium for the page tests, driven by Selenium through the system
chromedriver (an explicit Service path, so Selenium never tries to fetch a driver)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PAGE_LOAD_TIMEOUT_S = 120


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("Chromium is missing: apt-get install chromium chromium-driver (tasks.py test does)")
    profile = tmp_path / "chromium-profile"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        f"--user-data-dir={profile}",
        "--window-size=1400,1000",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT_S)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def ask_chat(driver: WebDriver, question: str, wait_s: float) -> str:
    """Type a question into the chat page, send it, and wait until the streamed reply is
    complete (the Send button is back and a new assistant message holds text). An error
    message the page shows for this turn fails the test with its text."""
    before = len(driver.find_elements(By.CSS_SELECTOR, "#log .msg.assistant"))
    errors_before = len(driver.find_elements(By.CSS_SELECTOR, "#log .msg.error"))
    box = driver.find_element(By.ID, "question")
    box.clear()
    box.send_keys(question)
    driver.find_element(By.ID, "send").click()

    def answered(d: WebDriver) -> Any:
        errors = d.find_elements(By.CSS_SELECTOR, "#log .msg.error")
        if len(errors) > errors_before:
            raise AssertionError(f"the chat page showed an error: {errors[-1].text}")
        replies = d.find_elements(By.CSS_SELECTOR, "#log .msg.assistant")
        if (
            d.find_element(By.ID, "send").is_enabled()
            and len(replies) > before
            and replies[-1].text.strip() not in {"", "…"}
        ):
            return replies[-1].text
        return False

    return str(WebDriverWait(driver, wait_s, poll_frequency=0.1).until(answered))
