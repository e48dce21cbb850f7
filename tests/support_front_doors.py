"""One config, one span's attributes, through each of spanguard's front doors.

Rules must behave the same wherever spans come in, so the rule tests run every case
through all three and compare:

- `through_sdk`: a real TracerProvider with the processor `build_span_processor` builds,
  exporting to an in-memory exporter;
- `through_otlp`: a real ExportTraceServiceRequest through the sidecar's engine step
  (`apply_to_request` over the request's own bytes, prefilter and all);
- `through_cli`: `spanguard redact --jsonl` as a subprocess.

Each returns the attributes as exported (a dropped attribute is absent).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support_otlp import key_value

from spanguard import build_span_processor
from spanguard.config import load_config
from spanguard.processors.engine import Engine
from spanguard.processors.otlp_adapter import apply_to_request

Attributes = dict[str, Any]
FrontDoor = Callable[[Mapping[str, Any], Attributes], Attributes]


def through_sdk(config: Mapping[str, Any], attributes: Attributes) -> Attributes:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(build_span_processor(load_config(config), exporters=[exporter]))
    with provider.get_tracer("front.doors").start_as_current_span("span") as span:
        span.set_attributes(attributes)
    provider.shutdown()
    (finished,) = exporter.get_finished_spans()
    return {key: _plain(value) for key, value in (finished.attributes or {}).items()}


def through_otlp(config: Mapping[str, Any], attributes: Attributes) -> Attributes:
    loaded = load_config(config)
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id = b"\x01" * 16
    span.span_id = b"\x02" * 8
    span.name = "span"
    for key, value in attributes.items():
        span.attributes.append(key_value(key, value))
    original = request.SerializeToString()
    apply_to_request(request, Engine.from_config(loaded.redaction, loaded.truncation), original=original)
    out = request.resource_spans[0].scope_spans[0].spans[0]
    return {kv.key: _any_value(MessageToDict(kv.value)) for kv in out.attributes}


def through_cli(config: Mapping[str, Any], attributes: Attributes, *, tmp: Path | None = None) -> Attributes:
    """`spanguard redact --jsonl --config FILE`; summary attributes are not written there."""
    directory = tmp or Path(os.environ.get("TMPDIR", "/tmp"))
    path = directory / f"front-door-{os.getpid()}-{id(attributes)}.yaml"
    path.write_text(yaml.safe_dump(dict(config)))
    try:
        env = {k: v for k, v in os.environ.items() if k != "SPANGUARD_CONFIG"}
        env["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
        stdin = "".join(json.dumps({"key": k, "value": v}) + "\n" for k, v in attributes.items())
        result = subprocess.run(
            [sys.executable, "-m", "spanguard", "redact", "--jsonl", "--config", str(path)],
            input=stdin.encode(),
            capture_output=True,
            timeout=60,
            env=env,
        )
    finally:
        path.unlink()
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    out: Attributes = {}
    for line in result.stdout.decode().splitlines():
        record = json.loads(line)
        if record["value"] is not None:
            out[record["key"]] = record["value"]
    return out


FRONT_DOORS: dict[str, FrontDoor] = {"sdk": through_sdk, "otlp": through_otlp, "cli": through_cli}


def without_summary(attributes: Attributes) -> Attributes:
    return {k: v for k, v in attributes.items() if not k.startswith("spanguard.")}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _any_value(value: Mapping[str, Any]) -> Any:
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return value["doubleValue"]
    if "boolValue" in value:
        return value["boolValue"]
    if "arrayValue" in value:
        return [_any_value(item) for item in value["arrayValue"].get("values", [])]
    return value
