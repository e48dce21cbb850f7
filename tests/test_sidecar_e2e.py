"""The OpenTelemetry SDK's own OTLP exporters -> a real sidecar process -> the file exporter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from support_sidecar import attributes_of, read_file_spans, sidecar_config, wait_for

SECRET_EMAIL = "jane.doe@example.com"
LONG_TEXT = "word " * 8000  # 40 000 chars, over the default 16 KiB limit


def _exporter(protocol: str, address: str) -> SpanExporter:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter(endpoint=address, insecure=True)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter(endpoint=f"http://{address}/v1/traces")


def _send_spans(protocol: str, address: str, count: int, attributes: dict[str, Any]) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "e2e-client"}))
    provider.add_span_processor(BatchSpanProcessor(_exporter(protocol, address), max_export_batch_size=50))
    tracer = provider.get_tracer("e2e")
    for i in range(count):
        with tracer.start_as_current_span(f"span-{i}") as span:
            span.set_attributes({**attributes, "seq": i})
    provider.force_flush()
    provider.shutdown()


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_every_span_arrives_redacted_truncated_numbers_untouched(
    protocol: str, tmp_path: Path, start_sidecar: Any
) -> None:
    sidecar = start_sidecar(sidecar_config(tmp_path))
    address = sidecar.grpc_address if protocol == "grpc" else sidecar.http_address
    attributes = {
        "input.value": f"please mail {SECRET_EMAIL} about it",
        "output.value": LONG_TEXT,
        "llm.token_count.total": 1234,
        "llm.temperature": 0.25,
        "cache.hit": True,
    }
    _send_spans(protocol, address, 120, attributes)
    out = tmp_path / "out.jsonl"
    assert wait_for(lambda: len(read_file_spans(out)) >= 120)
    spans = read_file_spans(out)
    assert sorted(attributes_of(s)["seq"] for s in spans) == list(range(120))
    text = out.read_text()
    assert SECRET_EMAIL not in text
    for span in spans:
        attrs = attributes_of(span)
        assert attrs["llm.token_count.total"] == 1234
        assert attrs["llm.temperature"] == 0.25
        assert attrs["cache.hit"] is True
        assert "please mail" in attrs["input.value"]
        assert len(attrs["output.value"]) < len(LONG_TEXT)
        assert attrs["output.value"].startswith("word word")
    assert sidecar.terminate() == 0
    assert SECRET_EMAIL not in sidecar.stderr_text()


@pytest.mark.slow
def test_console_exporter_prints_processed_spans_only(tmp_path: Path, start_sidecar: Any) -> None:
    exporters = {"console": {"format": "json"}}
    sidecar = start_sidecar(sidecar_config(tmp_path, exporters=exporters))
    _send_spans("grpc", sidecar.grpc_address, 5, {"input.value": f"mail {SECRET_EMAIL} now"})
    assert wait_for(lambda: sidecar.stdout_text().count("span-") >= 5)
    assert SECRET_EMAIL not in sidecar.stdout_text()
    assert "mail " in sidecar.stdout_text()
    assert sidecar.terminate() == 0


@pytest.mark.slow
def test_unchanged_requests_are_forwarded_as_sent(tmp_path: Path, start_sidecar: Any) -> None:
    config = sidecar_config(tmp_path, redaction={"enabled": False}, truncation={"enabled": False})
    sidecar = start_sidecar(config)
    _send_spans("http", sidecar.http_address, 30, {"input.value": "nothing to hide", "n": 7})
    out = tmp_path / "out.jsonl"
    assert wait_for(lambda: len(read_file_spans(out)) >= 30)
    spans = read_file_spans(out)
    assert {attributes_of(s)["input.value"] for s in spans} == {"nothing to hide"}
    metrics = sidecar.metrics()
    assert metrics['spanguard_sidecar_spans_received_total{protocol="http"}'] == 30
    exported = 'spanguard_sidecar_spans_exported_total{exporter="file"}'
    assert wait_for(lambda: sidecar.metrics().get(exported) == 30)
    assert sidecar.terminate() == 0
