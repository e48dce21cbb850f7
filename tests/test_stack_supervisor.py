"""The local stack's supervisor with trivial real children (`python -m http.server`).

What must hold whatever the services are: a taken port is reported (port and service
named) before anything starts, health is awaited and a child that dies or hangs is
reported with its own output, every output line carries its service's prefix, and
stopping — by request, by SIGTERM or Ctrl-C to the supervisor, or because a service
died — leaves no process behind, grandchildren included.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support_net import free_port

from spanguard.stack.supervisor import (
    PortClaim,
    ServiceSpec,
    StackError,
    Supervisor,
    check_ports,
    http_ok,
    port_is_free,
    run_services,
)


def pid_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its parent counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "\nState:\tZ" not in status


def wait_gone(pid: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not pid_alive(pid)


def web(name: str, port: int) -> ServiceSpec:
    """A real HTTP server child on loopback; healthy once it answers GET /."""
    argv = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]
    return ServiceSpec(
        name=name,
        argv=argv,
        ports=[PortClaim(port)],
        health_url=f"http://127.0.0.1:{port}/",
        startup_timeout_s=30,
    )


def script(name: str, port: int, body: str, timeout_s: float = 30.0) -> ServiceSpec:
    """A child running `body`; healthy once something answers on `port`."""
    argv = [sys.executable, "-c", textwrap.dedent(body)]
    return ServiceSpec(
        name=name,
        argv=argv,
        ports=[PortClaim(port)],
        health_url=f"http://127.0.0.1:{port}/",
        startup_timeout_s=timeout_s,
    )


@pytest.fixture
def listening_socket() -> Iterator[int]:
    """A port someone else already listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_port_is_free_sees_a_listener(listening_socket: int) -> None:
    assert not port_is_free(listening_socket)
    assert port_is_free(free_port())


def test_taken_port_fails_before_any_service_starts(listening_socket: int) -> None:
    first_port = free_port()
    out = io.StringIO()
    supervisor = Supervisor(out)
    specs = [
        web("first", first_port),
        ServiceSpec(
            name="phoenix",
            argv=[sys.executable, "-c", "pass"],
            ports=[PortClaim(listening_socket, flag="--phoenix-port")],
        ),
    ]
    with pytest.raises(StackError) as caught:
        run_services(specs, supervisor=supervisor)
    message = str(caught.value)
    assert "a port the stack needs is already in use" in message
    assert f"port {listening_socket} on 127.0.0.1 (phoenix): pass --phoenix-port to use another" in message
    # nothing was started, so the other service's port was never bound
    assert supervisor.services == []
    assert port_is_free(first_port)
    assert "[first]" not in out.getvalue()


def test_two_services_on_one_port_is_an_error() -> None:
    port = free_port()
    with pytest.raises(StackError, match=f"port {port} is configured for both a and b"):
        check_ports([web("a", port), web("b", port)])


def test_waits_for_health_and_prefixes_every_line() -> None:
    port = free_port()
    slow_start = script(
        "slow",
        port,
        f"""
        import http.server, sys, time
        print("warming up", flush=True)
        print("error output goes through too", file=sys.stderr, flush=True)
        time.sleep(1.0)
        print("listening", flush=True)
        handler = http.server.SimpleHTTPRequestHandler
        http.server.ThreadingHTTPServer(("127.0.0.1", {port}), handler).serve_forever()
    """,
    )
    out = io.StringIO()
    seen_healthy: list[bool] = []

    def on_ready(supervisor: Supervisor) -> None:
        seen_healthy.append(http_ok(f"http://127.0.0.1:{port}/"))

    code = run_services([slow_start], supervisor=Supervisor(out), on_ready=on_ready, exit_when_ready=True)
    assert code == 0
    assert seen_healthy == [True]
    lines = out.getvalue().splitlines()
    assert "[slow] warming up" in lines
    assert "[slow] error output goes through too" in lines
    assert "[slow] listening" in lines
    assert any(line.startswith("[stack] slow is healthy (") for line in lines)
    # stopped on the way out: the port is free again
    assert port_is_free(port)


def test_a_chatty_service_logs_to_its_file_and_progress_lines_show_the_wait(tmp_path: Path) -> None:
    import dataclasses

    port = free_port()
    chatty = dataclasses.replace(
        script(
            "chatty",
            port,
            f"""
        import http.server, time
        for n in range(50):
            print("banner line", n, flush=True)
        time.sleep(1.5)
        handler = http.server.SimpleHTTPRequestHandler
        http.server.ThreadingHTTPServer(("127.0.0.1", {port}), handler).serve_forever()
    """,
        ),
        log_file=tmp_path / "chatty.log",
        starting_note="first start is slow",
    )
    out = io.StringIO()
    code = run_services([chatty], supervisor=Supervisor(out, progress_interval_s=0.5), exit_when_ready=True)
    assert code == 0
    console = out.getvalue()
    assert "[chatty]" not in console  # folded: not one of its lines on the console
    assert f"[stack] starting chatty; its output goes to {tmp_path / 'chatty.log'}" in console
    assert "[stack] chatty: still starting (" in console and "s; first start is slow)" in console
    assert "[stack] chatty is healthy (" in console
    logged = (tmp_path / "chatty.log").read_text(encoding="utf-8")
    assert "banner line 0" in logged and "banner line 49" in logged


def test_services_become_healthy_in_order() -> None:
    ports = [free_port(), free_port()]
    out = io.StringIO()
    code = run_services(
        [web("one", ports[0]), web("two", ports[1])], supervisor=Supervisor(out), exit_when_ready=True
    )
    assert code == 0
    text = out.getvalue()
    assert text.index("[stack] one is healthy") < text.index("[stack] two is healthy")


def test_child_that_dies_before_healthy_is_reported_with_its_output() -> None:
    port = free_port()
    broken = script(
        "sidecar",
        port,
        """
        import sys
        print("config problem: unknown key 'exporterz'", flush=True)
        sys.exit(3)
    """,
    )
    with pytest.raises(StackError) as caught:
        run_services([broken], supervisor=Supervisor(io.StringIO()))
    message = str(caught.value)
    assert "sidecar exited with code 3" in message
    assert "config problem: unknown key 'exporterz'" in message


def test_child_that_never_gets_healthy_times_out_and_is_stopped(tmp_path: Path) -> None:
    port = free_port()
    pid_file = tmp_path / "pid"
    hung = script(
        "hung",
        port,
        f"""
        import os, time
        open({str(pid_file)!r}, "w").write(str(os.getpid()))
        time.sleep(300)
    """,
        timeout_s=2.0,
    )
    with pytest.raises(StackError, match="hung did not become healthy within 2s"):
        run_services([hung], supervisor=Supervisor(io.StringIO()))
    assert wait_gone(int(pid_file.read_text()))


def test_stop_takes_down_grandchildren_and_kills_what_ignores_sigterm(tmp_path: Path) -> None:
    port = free_port()
    pids = tmp_path / "pids"
    stubborn = script(
        "stubborn",
        port,
        f"""
        import http.server, os, signal, subprocess
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        worker = subprocess.Popen(["sleep", "300"])
        open({str(pids)!r}, "w").write(f"{{os.getpid()}} {{worker.pid}}")
        handler = http.server.SimpleHTTPRequestHandler
        http.server.ThreadingHTTPServer(("127.0.0.1", {port}), handler).serve_forever()
    """,
    )
    out = io.StringIO()
    supervisor = Supervisor(out, stop_timeout_s=1.0)
    assert run_services([stubborn], supervisor=supervisor, exit_when_ready=True) == 0
    leader, worker = (int(pid) for pid in pids.read_text().split())
    assert wait_gone(leader)
    assert wait_gone(worker)
    assert "stubborn did not stop within 1s; killing it" in out.getvalue()


def test_a_service_that_dies_later_stops_the_others() -> None:
    ports = [free_port(), free_port()]
    short_lived = script(
        "short",
        ports[1],
        f"""
        import http.server, threading, os, time
        handler = http.server.SimpleHTTPRequestHandler
        server = http.server.ThreadingHTTPServer(("127.0.0.1", {ports[1]}), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        time.sleep(1.5)
        print("giving up", flush=True)
        os._exit(4)
    """,
    )
    out = io.StringIO()
    code = run_services([web("steady", ports[0]), short_lived], supervisor=Supervisor(out))
    assert code == 1
    text = out.getvalue()
    assert "[stack] short exited with code 4" in text
    assert "[stack] stopping the other services" in text
    assert port_is_free(ports[0])


def test_an_error_in_on_ready_still_stops_everything() -> None:
    port = free_port()

    def explode(supervisor: Supervisor) -> None:
        raise RuntimeError("demo failed")

    with pytest.raises(RuntimeError, match="demo failed"):
        run_services([web("web", port)], supervisor=Supervisor(io.StringIO()), on_ready=explode)
    assert port_is_free(port)


SUPERVISOR_SCRIPT = """
import sys
from spanguard.stack.supervisor import PortClaim, ServiceSpec, Supervisor, run_services

ports = [int(p) for p in sys.argv[1:]]
specs = [
    ServiceSpec(name=f"web{i}", argv=[sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(p)],
                ports=[PortClaim(p)], health_url=f"http://127.0.0.1:{p}/")
    for i, p in enumerate(ports)
]

def ready(supervisor):
    pids = " ".join(str(s.pid) for s in supervisor.services)
    supervisor.say(f"READY {pids}")

sys.exit(run_services(specs, supervisor=Supervisor(), on_ready=ready))
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_to_the_supervisor_stops_every_child(signum: int, tmp_path: Path) -> None:
    ports = [free_port(), free_port()]
    runner = tmp_path / "run_stack.py"
    runner.write_text(SUPERVISOR_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(runner), *map(str, ports)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        child_pids: list[int] = []
        output: list[str] = []
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            output.append(line)
            if line.startswith("READY "):
                child_pids = [int(pid) for pid in line.split()[1:]]
                break
            assert time.monotonic() < deadline, "".join(output)
        assert len(child_pids) == 2, "".join(output)
        assert all(pid_alive(pid) for pid in child_pids)
        proc.send_signal(signum)
        assert proc.wait(timeout=30) == 0
        rest = proc.stdout.read()
        assert "[stack] stopping" in rest
        for pid in child_pids:
            assert wait_gone(pid)
        assert all(port_is_free(port) for port in ports)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_supervisor_is_independent_of_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # a proxy in the environment must not capture loopback health checks
    port = free_port()
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    assert run_services([web("web", port)], supervisor=Supervisor(io.StringIO()), exit_when_ready=True) == 0
    assert os.environ["http_proxy"] == "http://127.0.0.1:9"


def test_services_stop_newest_first_each_after_the_one_before_has_exited(tmp_path: Path) -> None:
    """The app flushes into the sidecar and the sidecar into Phoenix on SIGTERM, so the
    older service must still be up until the newer one has finished stopping."""
    journal = tmp_path / "journal"
    ports = [free_port(), free_port()]

    def logging_server(name: str, port: int, linger_s: float) -> ServiceSpec:
        return script(
            name,
            port,
            f"""
            import http.server, signal, sys, threading, time

            def stop(signum, frame):
                time.sleep({linger_s})  # a final flush
                with open({str(journal)!r}, "a") as out:
                    out.write("{name} stopped\\n")
                sys.exit(0)

            signal.signal(signal.SIGTERM, stop)
            handler = http.server.SimpleHTTPRequestHandler
            server = http.server.ThreadingHTTPServer(("127.0.0.1", {port}), handler)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            while True:
                time.sleep(0.05)
        """,
        )

    older = logging_server("older", ports[0], 0.0)
    newer = logging_server("newer", ports[1], 0.5)
    out = io.StringIO()
    supervisor = Supervisor(out, stop_timeout_s=10.0)
    assert run_services([older, newer], supervisor=supervisor, exit_when_ready=True) == 0
    assert journal.read_text().splitlines() == ["newer stopped", "older stopped"]
    assert "killing" not in out.getvalue()
