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
from spanguard.stack.demo import DEMO_QUESTIONS, PLANTED_CARD, PLANTED_EMAIL, answer_text, mask_planted
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
        {"sidecar": {"auth": {"bearer_token": "st4ck-t0ken"},
                     "tls": {"cert_file": "/certs/c.pem", "key_file": "/certs/k.pem"}}}
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


def test_taken_port_fails_fast_with_the_port_and_the_service(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("phoenix", "phoenix-grpc", "sidecar-grpc", "sidecar-http")}
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        chat_port = int(taken.getsockname()[1])
        argv = [sys.executable, "-m", "spanguard", "stack", "up", "--workdir", str(tmp_path / "w"),
                "--chat-port", str(chat_port)]  # fmt: skip
        for name, port in ports.items():
            argv += [f"--{name}-port", str(port)]
        # fails before starting anything: the timeout only bounds a broken run
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert (
        f"spanguard: error: port {chat_port} on 127.0.0.1 is already in use, so chat cannot start"
        in result.stderr
    )
    assert "--chat-port" in result.stderr
    assert "Traceback" not in result.stderr
    assert "[phoenix]" not in result.stdout  # nothing was started


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


def test_demo_never_prints_the_planted_values() -> None:
    lines: list[str] = []
    for question in DEMO_QUESTIONS:
        lines.append(mask_planted(question))
    lines.append(mask_planted(f"echoing {PLANTED_EMAIL} and {PLANTED_CARD.replace(' ', '')}"))
    text = "\n".join(lines)
    for planted in (PLANTED_EMAIL, PLANTED_CARD, PLANTED_CARD.replace(" ", "")):
        assert planted not in text
    assert "<planted e-mail>" in text and "<planted card number>" in text
