"""Fixtures for sidecar tests: the sidecar as a real process, free ports, OTLP SDK clients."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support_net import free_port

SPANGUARD = [sys.executable, "-m", "spanguard"]
EXPORT_PATH = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


class SidecarProcess:
    """`spanguard sidecar --config FILE` in a child process, with its ports once listening."""

    def __init__(self, config: dict[str, Any], workdir: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.workdir = workdir
        self.config_path = workdir / "spanguard.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.process: subprocess.Popen[str] | None = None
        self.grpc_address = ""
        self.http_address = ""
        self.stderr_path = workdir / "sidecar.stderr"
        self.stdout_path = workdir / "sidecar.stdout"
        self.start()

    def start(self, timeout_s: float = 60) -> None:
        stderr = open(self.stderr_path, "a")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(
            [*SPANGUARD, "sidecar", "--config", str(self.config_path)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=self.env,
            cwd=self.workdir,
        )
        stderr.close()
        assert self.process.stdout is not None
        line_box: list[str] = []
        reader = threading.Thread(
            target=lambda: line_box.append(self.process.stdout.readline()),  # type: ignore[union-attr]
            daemon=True,
        )
        reader.start()
        reader.join(timeout_s)
        line = line_box[0] if line_box else ""
        if "listening" not in line:
            self.kill()
            raise AssertionError(f"sidecar did not start: {line!r}\n{self.stderr_text()}")
        # keep reading stdout (console exporter output) so the pipe never fills and blocks it
        threading.Thread(target=self._copy_stdout, args=(self.process.stdout,), daemon=True).start()
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        self.grpc_address = fields.get("grpc", "")
        self.http_address = fields.get("http", "")

    def _copy_stdout(self, stream: Any) -> None:
        with open(self.stdout_path, "a") as out:
            for line in stream:
                out.write(line)
                out.flush()

    def stdout_text(self) -> str:
        return self.stdout_path.read_text() if self.stdout_path.exists() else ""

    def stderr_text(self) -> str:
        return self.stderr_path.read_text() if self.stderr_path.exists() else ""

    @property
    def http_url(self) -> str:
        return f"http://{self.http_address}"

    def terminate(self, timeout_s: float = 30) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout_s)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def metrics(self) -> dict[str, float]:
        """`/metrics` as {'name{labels}': value} (one sample per line)."""
        import httpx

        text = httpx.get(f"{self.http_url}/metrics", timeout=10).text
        samples: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples


def sidecar_config(
    tmp_path: Path,
    *,
    exporters: dict[str, Any] | None = None,
    redaction: dict[str, Any] | None = None,
    truncation: dict[str, Any] | None = None,
    **sidecar: Any,
) -> dict[str, Any]:
    """A config with free loopback ports, a private queue and a file exporter by default."""
    side: dict[str, Any] = {
        "grpc": {"endpoint": f"127.0.0.1:{free_port()}"},
        "http": {"endpoint": f"127.0.0.1:{free_port()}"},
        "queue": {"directory": str(tmp_path / "queue")},
        "shutdown_timeout_s": 5,
    }
    side.update(sidecar)
    config: dict[str, Any] = {
        "exporters": exporters if exporters is not None else {"file": {"path": str(tmp_path / "out.jsonl")}},
        "sidecar": side,
    }
    if redaction is not None:
        config["redaction"] = redaction
    if truncation is not None:
        config["truncation"] = truncation
    return config


def read_file_spans(path: Path) -> list[dict[str, Any]]:
    """Every span of an OTLP-JSON lines file (rotated files not included)."""
    spans: list[dict[str, Any]] = []
    if not path.exists():
        return spans
    # the last piece is either empty or a line still being written: only whole lines count
    for line in path.read_text().split("\n")[:-1]:
        if not line.strip():
            continue
        for rs in json.loads(line).get("resourceSpans", []):
            for ss in rs.get("scopeSpans", []):
                spans.extend(ss.get("spans", []))
    return spans


def wait_for(predicate: Callable[[], bool], timeout_s: float = 30, interval_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


def attributes_of(span: dict[str, Any]) -> dict[str, Any]:
    """OTLP-JSON attributes as {key: python value}."""
    out: dict[str, Any] = {}
    for kv in span.get("attributes", []):
        value = kv.get("value", {})
        if "stringValue" in value:
            out[kv["key"]] = value["stringValue"]
        elif "intValue" in value:
            out[kv["key"]] = int(value["intValue"])
        elif "doubleValue" in value:
            out[kv["key"]] = float(value["doubleValue"])
        elif "boolValue" in value:
            out[kv["key"]] = bool(value["boolValue"])
        else:
            out[kv["key"]] = value
    return out


@pytest.fixture
def start_sidecar(tmp_path: Path) -> Iterator[Callable[..., SidecarProcess]]:
    """Start sidecars from config dicts; every one started is stopped after the test."""
    started: list[SidecarProcess] = []

    def _start(config: dict[str, Any], env: dict[str, str] | None = None) -> SidecarProcess:
        workdir = tmp_path / f"sidecar{len(started)}"
        workdir.mkdir()
        process = SidecarProcess(config, workdir, env)
        started.append(process)
        return process

    yield _start
    for process in started:
        with contextlib.suppress(Exception):
            process.kill()


# ---- building requests by hand (for raw clients and bad-input tests)


def make_request(seqs: list[int], *, text: str = "hello", extra_attrs: int = 0) -> bytes:
    """A serialized ExportTraceServiceRequest with one span per seq (attribute `seq`)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "raw-client"
    ss = rs.scope_spans.add()
    ss.scope.name = "raw"
    for seq in seqs:
        span = ss.spans.add()
        span.trace_id = seq.to_bytes(16, "big") or b"\x01" * 16
        span.span_id = (seq + 1).to_bytes(8, "big")
        span.name = f"span-{seq}"
        span.start_time_unix_nano = 1_700_000_000_000_000_000 + seq
        span.end_time_unix_nano = span.start_time_unix_nano + 1000
        attr = span.attributes.add()
        attr.key, attr.value.int_value = "seq", seq
        attr = span.attributes.add()
        attr.key, attr.value.string_value = "input.value", text
        for i in range(extra_attrs):
            attr = span.attributes.add()
            attr.key, attr.value.string_value = f"extra.{i}", "x" * 200
    return request.SerializeToString()


def grpc_export(
    address: str, body: bytes, *, metadata: tuple[tuple[str, str], ...] | None = None, timeout_s: float = 10
) -> Any:
    """One raw TraceService/Export call; returns the grpc.StatusCode."""
    import grpc

    with grpc.insecure_channel(address, options=[("grpc.max_send_message_length", -1)]) as channel:
        call = channel.unary_unary(EXPORT_PATH, request_serializer=None, response_deserializer=None)
        try:
            call(body, timeout=timeout_s, metadata=metadata)
        except grpc.RpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK


def spans_seqs(path: Path) -> set[int]:
    seqs: set[int] = set()
    for span in read_file_spans(path):
        seq = attributes_of(span).get("seq")
        if seq is not None:
            seqs.add(int(seq))
    return seqs


def request_seqs(request: Any) -> list[int]:
    """The `seq` attribute of every span of a request (parsed, or its bytes), in order."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    if isinstance(request, bytes):
        request = ExportTraceServiceRequest.FromString(request)
    return [
        kv.value.int_value
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
        for kv in span.attributes
        if kv.key == "seq"
    ]


def received_seqs(receiver: Any) -> list[int]:
    """Every `seq` a keeping ParseOnlyReceiver got, duplicates included, in arrival order."""
    return [seq for request in list(receiver.requests) for seq in request_seqs(request)]
