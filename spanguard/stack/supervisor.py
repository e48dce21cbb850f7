"""Run a few local services as child processes, the way `spanguard stack up` needs.

Generic on purpose: it knows nothing about Phoenix or the sidecar, only about a
command line, the TCP ports it will bind and a URL that answers 200 once it is ready.
That keeps the parts that must not go wrong (a clear error when a port is taken, a
bounded wait for health, no orphaned processes on Ctrl-C) testable with trivial
children such as `python -m http.server`.

Each child runs in its own session, so a terminal's Ctrl-C reaches only the
supervisor, which then stops the children itself, newest first, by process group:
a service that forks workers takes them down with it.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TextIO

from spanguard.errors import SpanguardError

# how much of a dead child's output an error message quotes
_TAIL_LINES = 20
# never proxy our own health checks: HTTP(S)_PROXY in the environment must not
# send a request for 127.0.0.1 to another machine
_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class StackError(SpanguardError):
    """The local stack cannot start or keep running; the message says which service."""


@dataclass(frozen=True)
class PortClaim:
    """A TCP port a service will listen on, and the interface it binds."""

    port: int
    host: str = "127.0.0.1"
    # the flag that moves this port, so the error message can say how to fix it
    flag: str | None = None


@dataclass(frozen=True)
class ServiceSpec:
    """One child process: how to start it and how to tell that it is ready."""

    name: str
    argv: Sequence[str]
    ports: Sequence[PortClaim] = ()
    health_url: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    startup_timeout_s: float = 60.0
    # output to this file instead of the console (a chatty service: Phoenix's banner,
    # its access log); the last lines are still quoted if it dies
    log_file: Path | None = None
    # said on the progress lines while it starts ("first start runs migrations")
    starting_note: str | None = None


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on host:port (a bind test, as the service will do)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # servers set SO_REUSEADDR too: a port in TIME_WAIT is free for them and for us
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def check_ports(specs: Sequence[ServiceSpec]) -> None:
    """Fail before starting anything if two services want one port or any port is taken;
    the message names every busy port at once (a second `stack up` finds them all busy)."""
    owners: dict[int, str] = {}
    for spec in specs:
        for claim in spec.ports:
            if claim.port in owners:
                raise StackError(
                    f"port {claim.port} is configured for both {owners[claim.port]} and {spec.name}"
                )
            owners[claim.port] = spec.name
    busy = [
        (spec, claim) for spec in specs for claim in spec.ports if not port_is_free(claim.port, claim.host)
    ]
    if not busy:
        return
    lines = [
        f"  port {claim.port} on {claim.host} ({spec.name})"
        + (f": pass {claim.flag} to use another" if claim.flag else "")
        for spec, claim in busy
    ]
    what = "a port the stack needs is" if len(busy) == 1 else f"{len(busy)} ports the stack needs are"
    raise StackError(
        f"{what} already in use (is another stack running?), so nothing was started:\n"
        + "\n".join(lines)
        + "\nstop whatever listens there, or move the stack's ports"
    )


def http_ok(url: str, timeout_s: float = 1.0) -> bool:
    """One health probe: does `url` answer 2xx right now?"""
    try:
        with _NO_PROXY_OPENER.open(url, timeout=timeout_s) as response:
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


class RunningService:
    """A started child, the thread that prefixes its output, and its last lines."""

    def __init__(
        self, spec: ServiceSpec, process: subprocess.Popen[str], out: TextIO, out_lock: threading.Lock
    ) -> None:
        self.spec = spec
        self.process = process
        self.tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self._out = out
        self._out_lock = out_lock
        self._log: TextIO | None = None
        if spec.log_file is not None:
            spec.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(spec.log_file, "a", encoding="utf-8")  # noqa: SIM115 - closed by the pump
        self._pump = threading.Thread(target=self._copy_output, name=f"log-{spec.name}", daemon=True)
        self._pump.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _copy_output(self) -> None:
        stream = self.process.stdout
        if stream is None:
            return
        prefix = f"[{self.spec.name}] "
        try:
            for line in stream:
                text = line.rstrip("\n")
                self.tail.append(text)
                if self._log is not None:
                    self._log.write(text + "\n")
                    self._log.flush()
                    continue
                with self._out_lock:
                    self._out.write(prefix + text + "\n")
                    self._out.flush()
        finally:
            if self._log is not None:
                self._log.close()

    def join_output(self, timeout_s: float) -> None:
        self._pump.join(timeout_s)

    def describe_exit(self) -> str:
        code = self.process.poll()
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        tail = "\n".join(f"  {line}" for line in self.tail)
        return f"{self.spec.name} {how}" + (f"; its last output:\n{tail}" if tail else " with no output")


class Supervisor:
    """Starts services, waits for their health, and stops all of them exactly once."""

    def __init__(
        self,
        out: TextIO | None = None,
        *,
        poll_interval_s: float = 0.25,
        stop_timeout_s: float = 15.0,
        progress_interval_s: float = 5.0,
    ) -> None:
        self.out = out if out is not None else sys.stdout
        self.poll_interval_s = poll_interval_s
        self.progress_interval_s = progress_interval_s
        self.stop_timeout_s = stop_timeout_s
        self.services: list[RunningService] = []
        self.stop_requested = threading.Event()
        self._out_lock = threading.Lock()

    def say(self, message: str) -> None:
        with self._out_lock:
            self.out.write(message + "\n")
            self.out.flush()

    def start(self, spec: ServiceSpec) -> RunningService:
        env = {**os.environ, **spec.env, "PYTHONUNBUFFERED": "1"}
        try:
            process = subprocess.Popen(
                list(spec.argv),
                cwd=spec.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                bufsize=1,
                start_new_session=True,
            )
        except OSError as exc:
            raise StackError(f"cannot start {spec.name}: {exc.strerror or exc}") from None
        service = RunningService(spec, process, self.out, self._out_lock)
        self.services.append(service)
        return service

    def wait_healthy(self, service: RunningService) -> None:
        """Poll the health URL until it answers, the child dies, or time runs out."""
        spec = service.spec
        if spec.health_url is None:
            return
        started = time.monotonic()
        deadline = started + spec.startup_timeout_s
        next_progress = started + self.progress_interval_s
        while True:
            now = time.monotonic()
            if now >= next_progress:
                note = f"; {spec.starting_note}" if spec.starting_note else ""
                self.say(f"[stack] {spec.name}: still starting ({now - started:.0f} s{note})")
                next_progress = now + self.progress_interval_s
            if self.stop_requested.is_set():
                raise StackError(f"stopped while waiting for {spec.name} to become healthy")
            if service.process.poll() is not None:
                service.join_output(2.0)
                raise StackError(f"{service.describe_exit()}\n(before {spec.health_url} answered)")
            if http_ok(spec.health_url):
                return
            if time.monotonic() >= deadline:
                raise StackError(
                    f"{spec.name} did not become healthy within {spec.startup_timeout_s:.0f}s "
                    f"({spec.health_url} never answered 2xx)"
                )
            self.stop_requested.wait(self.poll_interval_s)

    def first_exited(self) -> RunningService | None:
        for service in self.services:
            if service.process.poll() is not None:
                return service
        return None

    def stop_all(self, timeout_s: float | None = None) -> None:
        """SIGTERM each process group newest first, one after the other, then SIGKILL what is left.

        One after the other because each service flushes into the one started before
        it (the chat service into the sidecar, the sidecar into Phoenix): stopping them
        all at once would lose the spans still in flight. Each gets `timeout_s`.
        """
        timeout_s = self.stop_timeout_s if timeout_s is None else timeout_s
        for service in reversed(self.services):
            _signal_group(service.pid, signal.SIGTERM)
            try:
                service.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.say(f"[stack] {service.spec.name} did not stop within {timeout_s:.0f}s; killing it")
                _signal_group(service.pid, signal.SIGKILL)
        for service in self.services:
            # the leader may be gone while a forked worker lingers in its group
            _signal_group(service.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(5.0)
            service.join_output(2.0)
            if service.process.stdout is not None:
                service.process.stdout.close()
        self.services.clear()


def _signal_group(pid: int, signum: int) -> None:
    # start_new_session made the child a session (and group) leader: pgid == pid
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


@contextlib.contextmanager
def stop_on_signals(supervisor: Supervisor) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM ask the supervisor to stop instead of killing us."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(signum: int, frame: FrameType | None) -> None:
        supervisor.stop_requested.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_services(
    specs: Sequence[ServiceSpec],
    *,
    supervisor: Supervisor | None = None,
    on_ready: Callable[[Supervisor], None] | None = None,
    exit_when_ready: bool = False,
) -> int:
    """Check ports, start everything, wait for health in order, then supervise.

    Returns 0 after a requested stop (Ctrl-C, SIGTERM, or `exit_when_ready`), 1 when a
    service died on its own. Every child is stopped before this returns, whatever
    happened, including an exception from `on_ready`.
    """
    supervisor = supervisor or Supervisor()
    check_ports(specs)
    with stop_on_signals(supervisor):
        try:
            running = []
            started = time.monotonic()
            for spec in specs:
                where = f"; its output goes to {spec.log_file}" if spec.log_file is not None else ""
                supervisor.say(f"[stack] starting {spec.name}{where}")
                running.append(supervisor.start(spec))
            for service in running:
                try:
                    supervisor.wait_healthy(service)
                except StackError:
                    if supervisor.stop_requested.is_set():
                        supervisor.say("[stack] stopping")
                        return 0
                    raise
                elapsed = time.monotonic() - started
                supervisor.say(f"[stack] {service.spec.name} is healthy ({elapsed:.0f} s after start)")
            if on_ready is not None:
                on_ready(supervisor)
            if exit_when_ready:
                return 0
            while not supervisor.stop_requested.wait(supervisor.poll_interval_s):
                dead = supervisor.first_exited()
                if dead is not None:
                    dead.join_output(2.0)
                    supervisor.say(f"[stack] {dead.describe_exit()}")
                    supervisor.say("[stack] stopping the other services")
                    return 1
            supervisor.say("[stack] stopping")
            return 0
        finally:
            supervisor.stop_all()
