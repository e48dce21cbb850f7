"""The real OpenTelemetry Collector in tests: spanguard's own build, run from configs made
out of deploy/otelcol/ with loopback free ports put in, and the Go/Java interop clients.

The binaries come from `tasks.py` (the one place that knows how to build and cache them
in .tools/): the first test that needs one builds it, every later run reuses it.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from support_net import free_port

ROOT = Path(__file__).resolve().parent.parent
OTELCOL_DEPLOY = ROOT / "deploy" / "otelcol"
COMPONENTS_GO = OTELCOL_DEPLOY / "collector" / "components.go"


@cache
def tasks_module() -> Any:
    spec = importlib.util.spec_from_file_location("spanguard_tasks", ROOT / "tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def otelcol_binary() -> Path:
    return Path(tasks_module().ensure_go_build("otelcol-spanguard"))


@cache
def go_client_binary() -> Path:
    return Path(tasks_module().ensure_go_build("spanguard-interop-go"))


@cache
def java_client_jar() -> Path:
    return Path(tasks_module().ensure_java_build())


@cache
def built_components() -> dict[str, set[str]]:
    """What the binary says it has (`otelcol components`): {'receivers': {'otlp', ...}, ...}."""
    out = subprocess.run(
        [str(otelcol_binary()), "components"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    listing = yaml.safe_load(out)
    return {
        kind: {entry["name"] for entry in listing.get(kind) or []}
        for kind in ("receivers", "processors", "exporters", "extensions", "connectors")
    }


# Since v0.150 or so the Collector renamed some components and keeps the old names as
# deprecated aliases (`otelcol components` lists the new name only). The deploy files keep
# the old names, which every release the compose image may be pinned to understands.
DEPRECATED_TYPES = {
    ("exporters", "otlp"): "otlp_grpc",
    ("exporters", "otlphttp"): "otlp_http",
    ("exporters", "loadbalancing"): "load_balancing",
}


def canonical_type(kind: str, name: str) -> str:
    """The name `otelcol components` lists for a component type a config names."""
    return DEPRECATED_TYPES.get((kind, name), name)


def configured_components(config: dict[str, Any]) -> dict[str, set[str]]:
    """The component types a Collector config names (`batch/2` is of type `batch`)."""
    return {
        kind: {name.split("/", 1)[0] for name in config.get(kind) or {}}
        for kind in ("receivers", "processors", "exporters", "extensions", "connectors")
    }


def load_deploy(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((OTELCOL_DEPLOY / name).read_text())
    return loaded


def loopback_receiver(config: dict[str, Any]) -> dict[str, str]:
    """Move the config's OTLP receiver and health_check to free 127.0.0.1 ports, in place;
    returns {'grpc': host:port, 'http': host:port, 'health': host:port}."""
    addresses = {}
    protocols = config["receivers"]["otlp"]["protocols"]
    for protocol in ("grpc", "http"):
        if protocol in protocols:
            addresses[protocol] = f"127.0.0.1:{free_port()}"
            protocols[protocol]["endpoint"] = addresses[protocol]
    addresses["health"] = f"127.0.0.1:{free_port()}"
    config.setdefault("extensions", {})["health_check"] = {"endpoint": addresses["health"]}
    service = config.setdefault("service", {})
    if "health_check" not in service.setdefault("extensions", []):
        service["extensions"].append("health_check")
    # the Collector's own metrics server binds 0.0.0.0:8888 by default: turn it off
    service.setdefault("telemetry", {})["metrics"] = {"level": "none"}
    return addresses


def gateway_config(backends: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """deploy/otelcol/gateway.yaml on loopback ports, balancing over `backends` (host:port).

    The deploy file resolves the backends by DNS (one name, every replica, one port); on
    one machine the replicas differ by port, so the static resolver lists them instead.
    Everything else of the exporter (protocol, queue, retry, routing key) is the file's."""
    config = copy.deepcopy(load_deploy("gateway.yaml"))
    addresses = loopback_receiver(config)
    balancer = config["exporters"]["loadbalancing"]
    assert "dns" in balancer["resolver"], "gateway.yaml no longer resolves by DNS: update this helper"
    balancer["resolver"] = {"static": {"hostnames": list(backends)}}
    return config, addresses


def agent_config(sidecar_grpc: str, storage: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """deploy/otelcol/agent.yaml on loopback ports, exporting to the sidecar at `sidecar_grpc`,
    its persistent sending queue in `storage`."""
    config = copy.deepcopy(load_deploy("agent.yaml"))
    addresses = loopback_receiver(config)
    config["exporters"]["otlp"]["endpoint"] = sidecar_grpc
    config["extensions"]["file_storage"]["directory"] = str(storage)
    return config, addresses


class CollectorProcess:
    """`otelcol-spanguard --config FILE` as a child process, started and healthy."""

    def __init__(self, config: dict[str, Any], health: str, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "otelcol.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = workdir / "otelcol.log"
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [str(otelcol_binary()), "--config", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                start_new_session=True,
            )
        self.health_url = f"http://{health}/"
        deadline = time.monotonic() + 60
        while not self._healthy():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"the Collector did not become healthy:\n{self.log_text()}")
            time.sleep(0.1)

    def _healthy(self) -> bool:
        try:
            return httpx.get(self.health_url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def log_text(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def terminate(self, timeout_s: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout_s)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def start_collector(tmp_path: Path) -> Iterator[Callable[[dict[str, Any], str], CollectorProcess]]:
    """Start Collectors from (config, health address); every one is stopped after the test."""
    started: list[CollectorProcess] = []

    def _start(config: dict[str, Any], health: str) -> CollectorProcess:
        collector = CollectorProcess(config, health, tmp_path / f"otelcol{len(started)}")
        started.append(collector)
        return collector

    yield _start
    for collector in started:
        with contextlib.suppress(Exception):
            collector.kill()


def components_go_names() -> set[str]:
    """The component factories components.go lists, as Go package names (`otlpreceiver`, ...)."""
    return set(re.findall(r"(\w+)\.NewFactory\(\),", COMPONENTS_GO.read_text()))


def spans_by_id(requests: Iterable[Any]) -> dict[tuple[str, str], Any]:
    """{(trace id hex, span id hex): span} over requests (ExportTraceServiceRequest or
    TracesData), as a downstream receiver kept them."""
    return {
        (span.trace_id.hex(), span.span_id.hex()): span
        for request in list(requests)
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    }


def run_interop_client(command: list[str], *, timeout_s: float = 120) -> list[dict[str, Any]]:
    """Run a Go/Java client to its end; what it printed: one {seq, trace_id, span_id} a span."""
    # errors=replace: a client's error may quote a binary response body
    done = subprocess.run(command, capture_output=True, text=True, errors="replace", timeout=timeout_s)
    assert done.returncode == 0, f"{command[0]} failed ({done.returncode}):\n{done.stderr[-4000:]}"
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
