"""One real `spanguard stack up --demo` for the session: Phoenix, sidecar, chat service.

The stack is started exactly as a user starts it (the CLI, in a subprocess, with the
bundled deploy/stack.yaml), on free loopback ports and a temporary work dir, and the
tests that need it (test_stack_e2e.py, test_browser_chat.py) share it: Phoenix alone
takes 10-60 s to start on a busy machine. `RunningStack.stop()` sends SIGTERM like a
user's Ctrl-C would and reports what was left behind, so a test can assert on it; the
fixture's teardown stops it if no test did.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support_phoenix import PhoenixServer, free_port

STARTUP_TIMEOUT_S = 300.0


@dataclass
class RunningStack:
    process: subprocess.Popen[str]
    workdir: Path
    ports: dict[str, int]
    lines: list[str] = field(default_factory=list)
    exit_code: int | None = None
    _reader: threading.Thread | None = None

    @property
    def chat_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['chat']}"

    @property
    def phoenix_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['phoenix']}"

    @property
    def sidecar_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['sidecar_http']}"

    @property
    def phoenix(self) -> PhoenixServer:
        """The stack's Phoenix seen through the shared REST helpers (not started by them)."""
        return PhoenixServer(
            http_port=self.ports["phoenix"],
            grpc_port=self.ports["phoenix_grpc"],
            working_dir=self.workdir / "phoenix",
            log_path=self.workdir / "stack.log",
        )

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout_s: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        compiled = re.compile(pattern)
        seen = 0
        while time.monotonic() < deadline:
            for line in self.lines[seen:]:
                match = compiled.search(line)
                if match:
                    return match
            seen = len(self.lines)
            if self.process.poll() is not None and seen == len(self.lines):
                break
            time.sleep(0.1)
        tail = "\n".join(line for line in self.lines[-60:] if "sqlalchemy" not in line)
        raise AssertionError(f"stack never printed /{pattern}/; last output:\n{tail}")

    def processes_left(self) -> list[int]:
        """Pids of any process still running from this stack's work dir (argv or cwd)."""
        marker = str(self.workdir)
        left = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                cwd = os.readlink(entry / "cwd")
                state = (entry / "status").read_text()
            except (OSError, ValueError):
                continue
            if "\nState:\tZ" in state:
                continue
            if marker in cmdline or cwd.startswith(marker):
                left.append(int(entry.name))
        return left

    def stop(self, timeout_s: float = 60.0) -> int:
        """SIGTERM the supervisor (as Ctrl-C would) and wait; returns its exit code."""
        if self.exit_code is None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
            try:
                self.exit_code = self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.exit_code = self.process.wait(10)
            if self._reader is not None:
                self._reader.join(10)
        return self.exit_code


def _read_lines(stack: RunningStack) -> None:
    assert stack.process.stdout is not None
    with (stack.workdir / "stack.log").open("w") as log:
        for line in stack.process.stdout:
            stack.lines.append(line.rstrip("\n"))
            log.write(line)


def start_stack(workdir: Path, *extra: str) -> RunningStack:
    ports = {
        name: free_port() for name in ("chat", "phoenix", "phoenix_grpc", "sidecar_grpc", "sidecar_http")
    }
    argv = [
        sys.executable, "-m", "spanguard", "stack", "up", "--workdir", str(workdir),
        "--chat-port", str(ports["chat"]),
        "--phoenix-port", str(ports["phoenix"]),
        "--phoenix-grpc-port", str(ports["phoenix_grpc"]),
        "--sidecar-grpc-port", str(ports["sidecar_grpc"]),
        "--sidecar-http-port", str(ports["sidecar_http"]),
        *extra,
    ]  # fmt: skip
    workdir.mkdir(parents=True, exist_ok=True)
    env = {key: value for key, value in os.environ.items() if key != "SPANGUARD_CONFIG"}
    process = subprocess.Popen(
        argv, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    stack = RunningStack(process=process, workdir=workdir, ports=ports)
    stack._reader = threading.Thread(target=_read_lines, args=(stack,), daemon=True)
    stack._reader.start()
    return stack


class StackPool:
    """Hands out the session's running stack, starting a fresh one if a test stopped it."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_path_factory
        self._stack: RunningStack | None = None

    def get(self) -> RunningStack:
        if self._stack is None or self._stack.exit_code is not None or self._stack.process.poll() is not None:
            self.close()
            stack = start_stack(self._tmp.mktemp("stack"), "--demo")
            self._stack = stack
            stack.wait_for_line(r"^\[stack\] chat is healthy\b", STARTUP_TIMEOUT_S)
            stack.wait_for_line(r"^\[stack\] running; press Ctrl-C", 180)
        return self._stack

    def close(self) -> None:
        if self._stack is not None:
            self._stack.stop()
            self._stack = None


@pytest.fixture(scope="session")
def stack_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackPool]:
    pool = StackPool(tmp_path_factory)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def running_stack(stack_pool: StackPool) -> RunningStack:
    """`spanguard stack up --demo`, healthy and past its demo (shared while it runs)."""
    return stack_pool.get()
