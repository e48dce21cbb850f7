"""`spanguard stack up` end to end: real Phoenix, real sidecar, real chat service.

A chat turn carrying an e-mail address and a card number goes to the chat service; the
app exports only to the sidecar; the sidecar forwards to Phoenix. Read back over
Phoenix's REST API, the turn's spans carry the session id and neither planted value,
only redaction markers, and the sidecar's own counters show the spans went through it.
The last test stops the stack with SIGTERM and checks nothing is left running.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import httpx
import pytest
from support_stack import RunningStack

from spanguard.config import load_config
from spanguard.stack.demo import DEMO_QUESTIONS, PLANTED_CARD, PLANTED_EMAIL

pytestmark = [pytest.mark.phoenix, pytest.mark.slow]

EMAIL = "grace.hopper@example.org"
CARD = "5555 5555 5555 4444"  # the Mastercard test number: passes Luhn
QUESTION = f"I'm Grace ({EMAIL}), card {CARD}. How many days of annual leave do I get?"
PROJECT = "spanguard-stack"  # deploy/stack.yaml


def _session_spans(stack: RunningStack, session_id: str, timeout_s: float = 60.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    spans: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        spans = [
            span
            for span in stack.phoenix.spans(PROJECT)
            if span.get("attributes", {}).get("session.id") == session_id
        ]
        if spans:
            # the whole turn (agent, retriever, llm...) arrives in one batch or a few
            time.sleep(1.0)
            return [
                span
                for span in stack.phoenix.spans(PROJECT)
                if span.get("attributes", {}).get("session.id") == session_id
            ]
        time.sleep(0.5)
    return spans


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_the_stack_prints_its_urls_and_prefixes_service_logs(running_stack: RunningStack) -> None:
    out = running_stack.output()
    assert f"[stack] chat:     {running_stack.chat_url}/" in out
    assert f"[stack] phoenix:  {running_stack.phoenix_url}/  (project {PROJECT})" in out
    for service in ("phoenix", "sidecar", "chat"):
        assert f"[stack] {service} is healthy" in out
    for service in ("sidecar", "chat"):
        assert re.search(rf"^\[{service}\] ", out, re.MULTILINE), f"no prefixed line from {service}"
    # Phoenix's banner, warnings and access log are folded into its log file
    phoenix_log = running_stack.workdir / "phoenix" / "phoenix.log"
    assert f"[stack] starting phoenix; its output goes to {phoenix_log}" in out
    assert not re.search(r"^\[phoenix\] ", out, re.MULTILINE)
    assert phoenix_log.stat().st_size > 0
    assert "[stack] phoenix: still starting (" in out  # a progress line while it starts
    assert "404 Not Found" not in out  # the demo's polls for its session are not on screen
    assert (
        f"[stack] spans:    chat service -> sidecar {running_stack.sidecar_url} (it redacts) -> "
        f"Phoenix {running_stack.phoenix_url}/v1/traces, project {PROJECT}"
    ) in out
    assert re.search(
        r"^\[chat\] spanguard serve: spans go to otlp "
        rf"{re.escape(running_stack.sidecar_url)}/v1/traces \(config\), redacted first",
        out,
        re.MULTILINE,
    )


def test_the_app_exports_only_to_the_sidecar(running_stack: RunningStack) -> None:
    app = load_config(running_stack.workdir / "app.yaml")
    assert app.exporters.otlp is not None
    assert app.exporters.otlp.endpoint == running_stack.sidecar_url
    assert (app.exporters.console, app.exporters.file, app.exporters.phoenix) == (None, None, None)
    sidecar = load_config(running_stack.workdir / "sidecar.yaml")
    assert sidecar.exporters.phoenix is not None
    assert sidecar.exporters.phoenix.endpoint == running_stack.phoenix_url


def test_the_demo_reports_a_redacted_session_in_phoenix(running_stack: RunningStack) -> None:
    out = running_stack.output()
    match = re.search(r"^\[demo\] Phoenix session:  (\S+)$", out, re.MULTILINE)
    assert match, out[-3000:]
    assert match[1].startswith(f"{running_stack.phoenix_url}/projects/")
    counts = re.search(
        r"^\[demo\] session \S+: (\d+) traces, (\d+) spans, (\d+) redaction markers$", out, re.MULTILINE
    )
    assert counts and int(counts[1]) == 2 and int(counts[2]) > 0 and int(counts[3]) > 0
    assert "did not reach Phoenix" in out
    # the planted values are shown as sent (made up), so a user can search Phoenix for them
    assert f"[demo] you: {DEMO_QUESTIONS[0]}" in out
    assert PLANTED_EMAIL in out and PLANTED_CARD in out and "made up" in out
    # the session page the demo points at exists
    assert httpx.get(match[1], timeout=10, trust_env=False).status_code == 200


def test_a_chat_turn_reaches_phoenix_redacted_through_the_sidecar(running_stack: RunningStack) -> None:
    metrics_before = httpx.get(f"{running_stack.sidecar_url}/metrics", timeout=10, trust_env=False).text
    session_id = f"e2e-{uuid.uuid4().hex[:10]}"
    response = httpx.post(
        f"{running_stack.chat_url}/chat",
        json={"messages": [{"role": "user", "content": QUESTION}], "session_id": session_id},
        timeout=120,
        trust_env=False,
    )
    assert response.status_code == 200, response.text
    assert response.json()["session_id"] == session_id

    spans = _session_spans(running_stack, session_id)
    assert spans, f"no span with session.id={session_id} in Phoenix project {PROJECT}"
    stored = json.dumps(spans)
    for planted in (EMAIL, CARD, CARD.replace(" ", "")):
        assert planted not in stored
    assert "[REDACTED:email]" in stored
    assert "[REDACTED:credit_card]" in stored

    # Phoenix groups the turn under the session
    session = httpx.get(f"{running_stack.phoenix_url}/v1/sessions/{session_id}", timeout=10, trust_env=False)
    assert session.status_code == 200
    assert {trace["trace_id"] for trace in session.json()["data"]["traces"]} == {
        span["context"]["trace_id"] for span in spans
    }

    # no service logged what was planted (nor what the demo planted; the demo's own lines
    # show what it sent, on purpose)
    phoenix_log = (running_stack.workdir / "phoenix" / "phoenix.log").read_text(errors="replace")
    logs = "\n".join(line for line in running_stack.lines if not line.startswith("[demo]")) + phoenix_log
    for planted in (EMAIL, CARD, CARD.replace(" ", ""), PLANTED_EMAIL, PLANTED_CARD):
        assert planted not in logs

    # and the spans went through the sidecar: its counters moved
    metrics_after = httpx.get(f"{running_stack.sidecar_url}/metrics", timeout=10, trust_env=False).text
    received = "spanguard_sidecar_spans_received_total"
    exported = "spanguard_sidecar_spans_exported_total"
    assert _metric(metrics_after, received) >= _metric(metrics_before, received) + len(spans)
    assert _metric(metrics_after, exported) >= _metric(metrics_before, exported) + len(spans)


def _listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as /proc shows them) with a TCP socket listening on `port`."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            next(handle)
            for line in handle:
                fields = line.split()
                address, port_hex = fields[1].rsplit(":", 1)
                if int(port_hex, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                    found.add(address)
    return found


def test_phoenix_grpc_receiver_listens_on_loopback_only(running_stack: RunningStack) -> None:
    # Phoenix alone binds [::]: anyone on the network could send spans past the sidecar
    addresses = _listening_addresses(running_stack.ports["phoenix_grpc"])
    # 127.0.0.1, as IPv4 or v4-mapped IPv6 (gRPC may use a dual-stack socket); not 0.0.0.0 or [::]
    loopback = {"0100007F", "0000000000000000FFFF00000100007F"}
    assert addresses and addresses <= loopback


def test_sigterm_stops_the_whole_stack(running_stack: RunningStack) -> None:
    # runs last in this file: it ends the shared stack
    assert running_stack.processes_left(), "the stack's services should be running before the stop"
    assert running_stack.stop() == 0
    assert "[stack] stopping" in running_stack.output()
    deadline = time.monotonic() + 15
    while running_stack.processes_left() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert running_stack.processes_left() == []
