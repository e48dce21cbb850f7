"""`spanguard check` as a user runs it: a real subprocess, exit codes, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "spanguard.yaml"


def spanguard(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "SPANGUARD_CONFIG"}
    # logfire (a dev dependency) hooks pydantic and costs ~0.6 s per start; users lack it
    full_env["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "spanguard", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=full_env,
    )


def test_check_good_file_prints_effective_rules(tmp_path: Path) -> None:
    path = tmp_path / "spanguard.yaml"
    path.write_text(
        "redaction:\n"
        "  detectors: [email, api_key]\n"
        "  custom_patterns:\n"
        "    - {name: ticket, pattern: 'TICKET-\\d+'}\n"
        "  block_keys: ['llm.input_messages.*.message.content']\n"
        "  replacement: hash\n"
        "truncation:\n"
        "  max_length: 2048\n"
        "  max_length_by_key: {'retrieval.*': 512}\n"
        "exporters:\n"
        "  console:\n"
        "  otlp:\n"
        "    endpoint: ${SG_CHECK_ENDPOINT:-http://127.0.0.1:4318}\n"
        "sidecar:\n"
        "  grpc:\n"
        "  http: {endpoint: 127.0.0.1:14318}\n"
    )
    result = spanguard("check", str(path), env={"SG_CHECK_ENDPOINT": "http://127.0.0.1:9999"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.splitlines()[0] == f"{path}: OK"
    assert "detectors (2): email, api_key" in out
    assert "custom patterns (1): ticket" in out
    assert "key rules: allow 0, block 1, drop 0; allowed values 0" in out
    assert "replacement hash" in out
    assert "max_length 2048 chars" in out and "retrieval.*: max_length 512" in out
    assert "console (pretty)" in out and "otlp http://127.0.0.1:9999 (http/protobuf)" in out
    assert "sidecar: grpc off; http 127.0.0.1:14318" in out
    # hash mode without its key in the environment is worth a warning, not a failure
    assert "SPANGUARD_HASH_KEY is not set" in result.stderr


def test_check_accepts_config_option_and_no_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("truncation:\n  max_length: 999\n")
    result = spanguard("check", "--config", str(path))
    assert result.returncode == 0 and "max_length 999 chars" in result.stdout
    result = spanguard("check", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("built-in defaults: OK")
    assert "exporters (1):\n  console (pretty)" in result.stdout


def test_check_never_prints_credentials(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "exporters:\n"
        "  otlp:\n"
        "    endpoint: https://user:pa55w0rd@collector.example:4318\n"
        "    headers: {authorization: 'Bearer ${SG_CHECK_TOKEN}'}\n"
        "  phoenix:\n"
        "    endpoint: phx-user:gr4pc-secret@phoenix.example:4317\n"
        "    protocol: grpc\n"
        "sidecar:\n"
        "  auth: {bearer_token: s1decar-t0ken}\n"
    )
    result = spanguard("check", str(path), env={"SG_CHECK_TOKEN": "tok-from-env-123"})
    assert result.returncode == 0, result.stderr
    everything = result.stdout + result.stderr
    for secret in ("pa55w0rd", "tok-from-env-123", "s1decar-t0ken", "gr4pc-secret"):
        assert secret not in everything
    assert "https://***@collector.example:4318" in result.stdout
    assert "phoenix ***@phoenix.example:4317 (grpc" in result.stdout
    assert "headers: authorization" in result.stdout
    assert "auth bearer token" in result.stdout


def test_check_hides_url_queries_and_listen_passwords(tmp_path: Path) -> None:
    """A token in an exporter URL's query or fragment, or a password in a listen endpoint,
    is never printed; the rest of the address is."""
    path = tmp_path / "c.yaml"
    path.write_text(
        "exporters:\n"
        "  otlp:\n"
        "    endpoint: 'http://user:pw-1@collector.example:4318/base?token=sk-proj-q1'\n"
        "  phoenix:\n"
        "    endpoint: 'http://phoenix.example:6006/?api_key=sk-proj-q2#sk-proj-frag'\n"
        "sidecar:\n"
        "  grpc: {endpoint: 'lu:listen-pw@127.0.0.1:4317'}\n"
        "  http: {endpoint: '127.0.0.1:4318'}\n"
    )
    result = spanguard("check", str(path))
    assert result.returncode == 0, result.stderr
    everything = result.stdout + result.stderr
    for secret in ("pw-1", "sk-proj-q1", "sk-proj-q2", "sk-proj-frag", "listen-pw", "token=", "api_key="):
        assert secret not in everything
    assert "otlp http://***@collector.example:4318/base (http/protobuf)" in result.stdout
    assert "phoenix http://phoenix.example:6006/ (http/protobuf" in result.stdout
    assert "sidecar: grpc ***@127.0.0.1:4317; http 127.0.0.1:4318;" in result.stdout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "redaction:\n  detecters: all\n",
            ":2: unknown key 'detecters'; did you mean 'detectors'? (key: redaction.detecters)",
        ),
        ("redaction:\n  detectors: [email\n", ":3: invalid YAML: "),
        ("truncation:\n  max_length: lots\n", ":2: input should be a valid integer"),
        ("redaction:\n  detectors: [emial]\n", ":2: unknown detector (did you mean 'email'?)"),
        (
            "redaction:\n  custom_patterns:\n    - name: tkt\n      pattern: '(?<=x)secretliteral'\n",
            ":4: custom pattern 'tkt' is not valid RE2 syntax",
        ),
        (
            "pipeline:\n  model: ${SG_CHECK_UNSET_VAR}\n",
            ":2: environment variable SG_CHECK_UNSET_VAR is not set",
        ),
    ],
)
def test_check_bad_file_is_one_line_exit_1(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = spanguard("check", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"spanguard: error: {path}{expected}")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert "secretliteral" not in result.stderr


def test_check_missing_file(tmp_path: Path) -> None:
    result = spanguard("check", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1
    assert result.stderr == f"spanguard: error: {tmp_path / 'nope.yaml'}: config file not found\n"


def test_example_config_passes_check() -> None:
    result = spanguard("check", str(EXAMPLE), env={"SPANGUARD_HASH_KEY": "k"})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_check_says_where_a_config_without_exporters_sends_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from spanguard.cli import main as cli_main

    config = tmp_path / "spanguard.yaml"
    config.write_text("redaction:\n  detectors: [email]\n")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://user:secret@collector:4318")
    assert cli_main(["check", str(config)]) == 0
    out = capsys.readouterr().out
    assert "in process (build_span_processor): otlp http://***@collector:4318/v1/traces" in out
    assert "secret" not in out
