"""`spanguard stack up` without starting the stack: the derived configs and a taken port.

The end-to-end run lives in test_stack_e2e.py; these are fast.
"""

from __future__ import annotations

import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from support_net import free_port

from spanguard.config import load_config
from spanguard.config.model import CustomPattern, FileExporterConfig, SpanguardConfig
from spanguard.stack.demo import DEMO_QUESTIONS, PLANTED_CARD, PLANTED_EMAIL, answer_text
from spanguard.stack.local import StackOptions, build_services
from spanguard.stack.ports import (
    DEFAULT_PHOENIX_PROJECT,
    StackPorts,
    StackUrls,
    app_config,
    sidecar_config,
    write_config,
)

ROOT = Path(__file__).resolve().parents[1]
PORTS = StackPorts(chat=18000, phoenix=16006, phoenix_grpc=14319, sidecar_grpc=14317, sidecar_http=14318)
URLS = StackUrls("127.0.0.1", PORTS)


def test_sidecar_config_receives_on_loopback_and_exports_to_the_stack_phoenix(tmp_path: Path) -> None:
    user = load_config(ROOT / "deploy" / "stack.yaml")
    derived = sidecar_config(user, URLS, tmp_path)
    assert derived.sidecar.grpc is not None and derived.sidecar.http is not None
    assert derived.sidecar.grpc.endpoint == "127.0.0.1:14317"
    assert derived.sidecar.http.endpoint == "127.0.0.1:14318"
    assert derived.sidecar.queue.directory == str(tmp_path / "queue")
    phoenix = derived.exporters.phoenix
    assert phoenix is not None and phoenix.endpoint == "http://127.0.0.1:16006"
    assert phoenix.project == "spanguard-stack"
    assert (derived.exporters.console, derived.exporters.otlp) == (None, None)
    # everything else is the user's
    assert derived.redaction == user.redaction and derived.truncation == user.truncation


def test_sidecar_config_keeps_a_users_file_exporter_and_names_a_project(tmp_path: Path) -> None:
    user = SpanguardConfig.model_validate({"exporters": {"file": {"path": "out.jsonl"}, "console": {}}})
    derived = sidecar_config(user, URLS, tmp_path)
    assert derived.exporters.file == FileExporterConfig(path="out.jsonl")
    assert derived.exporters.console is None
    assert (
        derived.exporters.phoenix is not None and derived.exporters.phoenix.project == DEFAULT_PHOENIX_PROJECT
    )


def test_app_config_exports_to_the_sidecar_only() -> None:
    user = SpanguardConfig.model_validate({"exporters": {"console": {}, "phoenix": {}}})
    derived = app_config(user, URLS)
    assert derived.exporters.otlp is not None
    assert derived.exporters.otlp.endpoint == "http://127.0.0.1:14318"
    assert (derived.exporters.console, derived.exporters.file, derived.exporters.phoenix) == (
        None,
        None,
        None,
    )


def test_a_sidecar_bearer_token_is_sent_by_the_app_and_tls_is_off_on_loopback(tmp_path: Path) -> None:
    user = SpanguardConfig.model_validate(
        {
            "sidecar": {
                "auth": {"bearer_token": "st4ck-t0ken"},
                "tls": {"cert_file": "/certs/c.pem", "key_file": "/certs/k.pem"},
            }
        }
    )
    sidecar = sidecar_config(user, URLS, tmp_path).sidecar
    assert sidecar.auth.bearer_token == "st4ck-t0ken"
    assert sidecar.tls is None  # health checks and the app use http:// on 127.0.0.1
    otlp = app_config(user, URLS).exporters.otlp
    assert otlp is not None and otlp.headers == {"authorization": "Bearer st4ck-t0ken"}
    assert app_config(SpanguardConfig(), URLS).exporters.otlp.headers == {}  # type: ignore[union-attr]


def test_written_configs_read_back_equal_and_private(tmp_path: Path) -> None:
    # a pattern with `$` and `${...}` must survive the loader's ${VAR} substitution
    user = SpanguardConfig.model_validate(
        {"redaction": {"custom_patterns": [CustomPattern(name="ticket", pattern=r"TCK-\d+$|\${HOME}")]}}
    )
    for derived in (sidecar_config(user, URLS, tmp_path), app_config(user, URLS)):
        path = write_config(derived, tmp_path / "derived.yaml")
        assert load_config(path) == derived
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_build_services_orders_phoenix_sidecar_chat(tmp_path: Path) -> None:
    options = StackOptions(ports=PORTS, workdir=tmp_path)
    specs, urls = build_services(options, load_config(ROOT / "deploy" / "stack.yaml"))
    assert [spec.name for spec in specs] == ["phoenix", "sidecar", "chat"]
    phoenix, sidecar, chat = specs
    assert phoenix.env["PHOENIX_GRPC_PORT"] == "14319" and phoenix.env["PHOENIX_PORT"] == "16006"
    assert phoenix.env["PHOENIX_HOST"] == "127.0.0.1"
    assert phoenix.env["PHOENIX_TELEMETRY_ENABLED"] == "false"
    assert phoenix.env["PHOENIX_ALLOW_EXTERNAL_RESOURCES"] == "false"
    assert sidecar.argv[-2:] == ["--config", str(tmp_path / "sidecar.yaml")]
    assert chat.argv[chat.argv.index("serve") :] == [
        "serve", "--config", str(tmp_path / "app.yaml"), "--host", "127.0.0.1", "--port", "18000",
    ]  # fmt: skip
    assert [spec.health_url for spec in specs] == [
        "http://127.0.0.1:16006/healthz",
        "http://127.0.0.1:14318/healthz",
        "http://127.0.0.1:18000/healthz",
    ]
    assert urls.chat == "http://127.0.0.1:18000"


def test_taken_ports_are_all_named_and_nothing_is_rewritten(tmp_path: Path) -> None:
    """A second `stack up` meets every port busy: it names each one (with the flag that
    moves it) and refuses before touching the running stack's derived configs."""
    ports = {name: free_port() for name in ("phoenix", "phoenix-grpc", "sidecar-grpc")}
    workdir = tmp_path / "w"
    workdir.mkdir()
    running_config = workdir / "app.yaml"
    running_config.write_text("# the running stack's config\n", encoding="utf-8")
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as chat,
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sidecar_http,
    ):
        for taken in (chat, sidecar_http):
            taken.bind(("127.0.0.1", 0))
            taken.listen()
        chat_port, http_port = int(chat.getsockname()[1]), int(sidecar_http.getsockname()[1])
        argv = [sys.executable, "-m", "spanguard", "stack", "up", "--workdir", str(workdir),
                "--chat-port", str(chat_port), "--sidecar-http-port", str(http_port)]  # fmt: skip
        for name, port in ports.items():
            argv += [f"--{name}-port", str(port)]
        # fails before starting anything: the timeout only bounds a broken run
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "2 ports the stack needs are already in use" in result.stderr
    assert f"port {chat_port} on 127.0.0.1 (chat): pass --chat-port to use another" in result.stderr
    sidecar_line = f"port {http_port} on 127.0.0.1 (sidecar): pass --sidecar-http-port to use another"
    assert sidecar_line in result.stderr
    assert "Traceback" not in result.stderr
    assert "[phoenix]" not in result.stdout and "starting" not in result.stdout  # nothing was started
    assert running_config.read_text(encoding="utf-8") == "# the running stack's config\n"
    assert not (workdir / "sidecar.yaml").exists()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}, "a"),
        ({"answer": "b"}, "b"),
        ({"message": {"content": "c"}}, "c"),
    ],
)
def test_demo_reads_the_answer_from_the_chat_response(body: object, expected: str) -> None:
    assert answer_text(body) == expected


def test_demo_shows_the_planted_values_it_sends_and_says_they_are_made_up() -> None:
    """The user must be able to search Phoenix for what was planted, so the demo prints it
    (documentation values: an example.com address and the Visa test number)."""
    from spanguard.stack.demo import DemoResult, PhoenixSession, report

    assert any(PLANTED_EMAIL in question for question in DEMO_QUESTIONS)
    assert any(PLANTED_CARD in question for question in DEMO_QUESTIONS)
    assert PLANTED_EMAIL.endswith("@example.com") and PLANTED_CARD.replace(" ", "") == "4111111111111111"
    lines: list[str] = []
    session = PhoenixSession("s1", "node1", "proj1", ["t1", "t2"], spans=9, markers=4)
    report(DemoResult(session_id="s1", phoenix=session), "http://chat", "http://phoenix", lines.append)
    text = "\n".join(lines)
    assert PLANTED_EMAIL in text and PLANTED_CARD in text and "made up" in text
    assert "2 traces, 9 spans, 4 redaction markers" in text
    assert "http://phoenix/projects/proj1/sessions/node1" in text
