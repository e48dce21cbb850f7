"""A real Phoenix server for the whole test session, and helpers to read spans back.

Use it from any test:

    @pytest.mark.phoenix
    def test_x(phoenix: PhoenixServer) -> None:
        exporter_endpoint = phoenix.base_url            # http/protobuf: base_url + "/v1/traces"
        grpc_endpoint = phoenix.grpc_endpoint           # "127.0.0.1:<port>"
        spans = phoenix.wait_for_spans("my-project", count=3)   # polls the REST API

Phoenix starts once per session (about 12 s) from its own environment
(`deploy/phoenix/.venv`, it disagrees with litellm about `openai`), on free loopback
ports, with a temporary SQLite working dir and the offline settings (no external
resources, no telemetry). Its gRPC port binds all interfaces whatever PHOENIX_HOST
says: Phoenix ignores the host setting for gRPC.
Tests should use a project name of their own so they never see each other's spans.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from support_net import free_port

ROOT = Path(__file__).resolve().parents[1]
PHOENIX_BIN = ROOT / "deploy" / "phoenix" / ".venv" / "bin" / "phoenix"
STARTUP_TIMEOUT_S = 180.0  # a loaded 2-core machine has needed ~90 s
OFFLINE_ENV = {
    "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
    "PHOENIX_TELEMETRY_ENABLED": "false",
}


@dataclass
class PhoenixServer:
    """A running Phoenix: where to send spans and how to read them back."""

    http_port: int
    grpc_port: int
    working_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        """UI, REST API and OTLP/HTTP (`/v1/traces`, protobuf only)."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def http_traces_endpoint(self) -> str:
        return f"{self.base_url}/v1/traces"

    @property
    def grpc_endpoint(self) -> str:
        """OTLP/gRPC endpoint as `host:port` (insecure)."""
        return f"127.0.0.1:{self.grpc_port}"

    def spans(self, project: str) -> list[dict[str, Any]]:
        """Every span Phoenix holds for `project` right now ([] if the project is unknown).

        Items follow `GET /v1/projects/{project}/spans`: `name`, `context.trace_id`,
        `context.span_id`, `parent_id`, `span_kind`, `status_code`, `status_message`,
        `attributes` (flattened keys), `events`.
        """
        collected: list[dict[str, Any]] = []
        cursor: str | None = None
        with httpx.Client(base_url=self.base_url, timeout=10.0) as client:
            while True:
                params: dict[str, Any] = {"limit": 1000}
                if cursor:
                    params["cursor"] = cursor
                response = client.get(f"/v1/projects/{project}/spans", params=params)
                if response.status_code == 404:
                    return []
                response.raise_for_status()
                body = response.json()
                collected.extend(body["data"])
                cursor = body.get("next_cursor")
                if not cursor:
                    return collected

    def wait_for_spans(self, project: str, count: int, timeout_s: float = 60.0) -> list[dict[str, Any]]:
        """Poll until `project` holds at least `count` spans (Phoenix ingests asynchronously)."""
        deadline = time.monotonic() + timeout_s
        spans = self.spans(project)
        while len(spans) < count and time.monotonic() < deadline:
            time.sleep(0.25)
            spans = self.spans(project)
        if len(spans) < count:
            raise AssertionError(f"Phoenix project {project!r} holds {len(spans)} spans, expected {count}")
        return spans

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def start_phoenix(working_dir: Path) -> PhoenixServer:
    """Start `phoenix serve` and wait until `/healthz` answers; raises with the log tail."""
    if not PHOENIX_BIN.exists():
        raise RuntimeError(
            f"{PHOENIX_BIN} is missing: run `uv sync --frozen --project deploy/phoenix` (tasks.py test does)"
        )
    working_dir.mkdir(parents=True, exist_ok=True)
    server = PhoenixServer(
        http_port=free_port(),
        grpc_port=free_port(),
        working_dir=working_dir,
        log_path=working_dir / "phoenix.log",
    )
    env = {
        **os.environ,
        **OFFLINE_ENV,
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(server.http_port),
        "PHOENIX_GRPC_PORT": str(server.grpc_port),
        "PHOENIX_WORKING_DIR": str(working_dir),
    }
    for inherited in ("PHOENIX_SQL_DATABASE_URL", "PHOENIX_POSTGRES_HOST", "PHOENIX_COLLECTOR_ENDPOINT"):
        env.pop(inherited, None)
    with open(server.log_path, "wb") as log:
        server.process = subprocess.Popen(
            [str(PHOENIX_BIN), "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=working_dir,
        )
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.base_url}/healthz", timeout=2.0).status_code == 200 and _grpc_listening(
                server.grpc_port
            ):
                return server
        time.sleep(0.3)
    server.stop()
    tail = server.log_path.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"Phoenix did not become ready on {server.base_url}; log tail:\n{tail}")


def _grpc_listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PhoenixServer]:
    """One real Phoenix server for the session; stopped when the session ends."""
    server = start_phoenix(tmp_path_factory.mktemp("phoenix"))
    try:
        yield server
    finally:
        server.stop()
