"""Console output, and the endpoint/project/API-key rules of the Phoenix and OTLP exporters."""

from __future__ import annotations

import io
import json

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from support_spans import make_rag_trace, provider_with

from spanguard.config import load_config
from spanguard.config.model import OtlpExporterConfig, PhoenixExporterConfig
from spanguard.exporters.console import ConsoleSpanExporter, shorten
from spanguard.exporters.otlp import (
    PROJECT_ATTRIBUTE,
    OtlpSpanExporter,
    build_otlp_exporter,
    build_phoenix_exporter,
    grpc_target,
    http_traces_url,
    resolve_phoenix,
)


def test_pretty_console_prints_one_tree_per_finished_trace() -> None:
    out = io.StringIO()
    provider = provider_with(SimpleSpanProcessor(ConsoleSpanExporter("pretty", out)))
    trace = make_rag_trace(provider)
    provider.shutdown()
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[0] == f"trace {trace.trace_id}"
    assert text.count("trace ") == 1  # printed once, when the root ended
    assert lines[1].startswith("└─ rag.query [CHAIN]") and " ms " in lines[1]
    assert any(line.startswith("   ├─ retrieve [RETRIEVER]") for line in lines)
    assert any(line.startswith("   └─ llm.completion [LLM]") and line.endswith("OK") for line in lines)
    assert all(len(line) < 140 for line in lines)  # values are shortened
    assert "llm.model_name: spanguard-local/extractive" in text


def test_pretty_console_prints_unfinished_traces_on_shutdown() -> None:
    out = io.StringIO()
    exporter = ConsoleSpanExporter("pretty", out)
    provider = provider_with(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    root = tracer.start_span("never-ends")
    from opentelemetry import trace as trace_api

    with tracer.start_as_current_span("child", context=trace_api.set_span_in_context(root)):
        pass
    assert out.getvalue() == ""
    provider.shutdown()
    assert "child" in out.getvalue() and "(partial)" in out.getvalue()


def test_json_console_prints_one_object_per_span() -> None:
    out = io.StringIO()
    provider = provider_with(SimpleSpanProcessor(ConsoleSpanExporter("json", out)))
    make_rag_trace(provider)
    provider.shutdown()
    objects = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [o["name"] for o in objects] == ["retrieve", "llm.completion", "rag.query"]


def test_json_console_writes_every_attribute_type_the_sdk_accepts() -> None:
    """A `bytes` attribute (the SDK accepts it, its `to_json` cannot write it) loses neither
    its span nor the rest of the batch."""
    import base64

    from opentelemetry.sdk.trace.export import SpanExportResult

    out = io.StringIO()
    exporter = ConsoleSpanExporter("json", out)
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = provider_with(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("plain") as span:
        span.set_attribute("n", 1)
    with tracer.start_as_current_span("binary") as span:
        span.set_attribute("raw", b"\x00\xff")
        span.set_attribute("many", [b"a", b"b"])
        span.set_attribute("flags", [True, False])
        span.set_attribute("ratio", 0.5)
        span.add_event("blob", {"data": b"\x01"})
    with tracer.start_as_current_span("after") as span:
        span.set_attribute("s", "x")
    provider.shutdown()
    assert exporter.export(memory.get_finished_spans()) is SpanExportResult.SUCCESS
    objects = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [o["name"] for o in objects] == ["plain", "binary", "after"]
    binary = objects[1]
    assert binary["attributes"]["raw"] == base64.b64encode(b"\x00\xff").decode()
    assert binary["attributes"]["many"] == ["YQ==", "Yg=="]
    assert binary["attributes"]["flags"] == [True, False] and binary["attributes"]["ratio"] == 0.5
    assert binary["events"][0]["attributes"]["data"] == "AQ=="


def test_shorten_keeps_one_line() -> None:
    assert shorten("a\nb" * 100, 20) == ("a⏎b" * 100)[:19] + "…"


def test_phoenix_rules_config_then_env_then_default() -> None:
    default = resolve_phoenix(PhoenixExporterConfig(), environ={})
    assert default.endpoint == "http://localhost:6006/v1/traces"
    assert (default.project, default.project_explicit) == ("default", False)
    env = {
        "PHOENIX_COLLECTOR_ENDPOINT": "https://phoenix.internal:6006/",
        "PHOENIX_PROJECT_NAME": "from-env",
        "PHOENIX_API_KEY": "k-123",
        "PHOENIX_GRPC_PORT": "5317",
    }
    from_env = resolve_phoenix(PhoenixExporterConfig(), environ=env)
    assert from_env.endpoint == "https://phoenix.internal:6006/v1/traces"
    assert from_env.project == "from-env" and from_env.project_explicit
    assert from_env.headers == {"authorization": "Bearer k-123"}
    grpc_env = resolve_phoenix(PhoenixExporterConfig(protocol="grpc"), environ=env)
    assert (grpc_env.endpoint, grpc_env.insecure) == ("phoenix.internal:5317", False)
    configured = resolve_phoenix(
        PhoenixExporterConfig(
            endpoint="http://px:6006/v1/traces", project="cfg", headers={"Authorization": "Bearer mine"}
        ),
        environ=env,
    )
    assert configured.endpoint == "http://px:6006/v1/traces"
    assert configured.project == "cfg"
    assert configured.headers == {"Authorization": "Bearer mine"}  # explicit header wins
    grpc_cfg = resolve_phoenix(PhoenixExporterConfig(endpoint="px:4317", protocol="grpc"), environ={})
    assert (grpc_cfg.endpoint, grpc_cfg.insecure) == ("px:4317", True)
    ipv6 = resolve_phoenix(
        PhoenixExporterConfig(protocol="grpc"), environ={"PHOENIX_COLLECTOR_ENDPOINT": "http://[::1]:6006"}
    )
    assert ipv6.endpoint == "[::1]:4317"


def test_otlp_default_endpoint_follows_the_protocol() -> None:
    """As in the Collector: 4318 for http/protobuf, 4317 for grpc, unless one is given."""
    http = load_config({"exporters": {"otlp": {}}}).exporters.otlp
    grpc = load_config({"exporters": {"otlp": {"protocol": "grpc"}}}).exporters.otlp
    given = load_config({"exporters": {"otlp": {"protocol": "grpc", "endpoint": "c:5555"}}}).exporters.otlp
    assert http is not None and grpc is not None and given is not None
    assert http.endpoint == "http://localhost:4318"
    assert grpc.endpoint == "localhost:4317"
    assert given.endpoint == "c:5555"
    exporter = build_otlp_exporter(grpc)
    try:
        assert (exporter.endpoint, exporter.protocol) == ("localhost:4317", "grpc")
    finally:
        exporter.shutdown()


def test_endpoint_helpers() -> None:
    assert http_traces_url("http://c:4318") == "http://c:4318/v1/traces"
    assert http_traces_url("c:4318/") == "http://c:4318/v1/traces"
    assert http_traces_url("https://c/prefix/v1/traces") == "https://c/prefix/v1/traces"
    assert grpc_target("c:4317") == ("c:4317", None)
    assert grpc_target("https://c:4317") == ("c:4317", False)


def test_phoenix_exporter_stamps_project_on_the_resource() -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from support_spans import finished_spans

    inner = InMemorySpanExporter()
    explicit = OtlpSpanExporter(
        inner, endpoint="x", protocol="grpc", resource_attributes={PROJECT_ATTRIBUTE: "p1"}
    )
    fallback = OtlpSpanExporter(
        inner, endpoint="x", protocol="grpc", resource_defaults={PROJECT_ATTRIBUTE: "default"}
    )
    spans = finished_spans(2)
    explicit.export(spans)
    assert [s.resource.attributes[PROJECT_ATTRIBUTE] for s in inner.get_finished_spans()] == ["p1", "p1"]
    assert inner.get_finished_spans()[0].resource.attributes["service.name"] == "spanguard-tests"
    assert inner.get_finished_spans()[0].context == spans[0].context
    inner.clear()
    # a project already on the resource (phoenix.otel.register put it there) is kept
    from opentelemetry.sdk.resources import Resource

    from spanguard.exporters.span_copy import copy_span

    tagged = [copy_span(s, resource=Resource({PROJECT_ATTRIBUTE: "mine"})) for s in spans]
    fallback.export(tagged)
    assert [s.resource.attributes[PROJECT_ATTRIBUTE] for s in inner.get_finished_spans()] == ["mine", "mine"]


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_built_exporters_never_show_headers(protocol: str) -> None:
    phoenix = build_phoenix_exporter(
        PhoenixExporterConfig(
            endpoint="http://127.0.0.1:9", protocol=protocol, headers={"authorization": "Bearer s3cr3t"}
        )
    )
    otlp = build_otlp_exporter(
        OtlpExporterConfig(endpoint="http://127.0.0.1:9", protocol=protocol, headers={"x-api-key": "s3cr3t"})
    )
    try:
        assert "s3cr3t" not in repr(phoenix) + repr(otlp)
        assert phoenix.max_request_bytes and otlp.max_request_bytes
    finally:
        phoenix.shutdown()
        otlp.shutdown()
