"""Zero-code use: `OTEL_TRACES_EXPORTER=spanguard opentelemetry-instrument python app.py`."""

from __future__ import annotations

import os
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from support_instrument import assert_no_secrets, run_instrumented
from support_spans import SECRET_CARD, SECRET_EMAIL

from spanguard.exporters.entry_point import SpanguardSpanExporter
from spanguard.exporters.otlp_json import decode_traces_json_line

APP = f"""
from opentelemetry import trace

tracer = trace.get_tracer("tiny-app")
with tracer.start_as_current_span("handle-request") as span:
    span.set_attribute("input.value", "reach me at {SECRET_EMAIL}, card {SECRET_CARD}")
    span.set_attribute("doc", "z" * 5000)
    with tracer.start_as_current_span("child") as child:
        child.add_event("note", {{"text": "cc {SECRET_EMAIL}"}})
print("app done")
"""


def test_entry_point_is_registered() -> None:
    found = [ep for ep in entry_points(group="opentelemetry_traces_exporter") if ep.name == "spanguard"]
    assert len(found) == 1
    assert found[0].load() is SpanguardSpanExporter


@pytest.mark.slow
def test_opentelemetry_instrument_with_spanguard_exporter_redacts(tmp_path: Path) -> None:
    trace_file = tmp_path / "out" / "spans.jsonl"
    config = tmp_path / "spanguard.yaml"
    config.write_text(
        "truncation:\n  max_length: 1000\n"
        "exporters:\n"
        "  console: {format: json}\n"
        f"  file: {{path: {trace_file}}}\n"
        "  batch: {schedule_delay_ms: 100}\n"
    )
    env = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "spanguard",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_SERVICE_NAME": "tiny-app",
        "SPANGUARD_CONFIG": str(config),
        # auto-instrumentation imports litellm's instrumentor; keep litellm offline
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    env.pop("SPANGUARD_ENABLED", None)
    result = run_instrumented(tmp_path, APP, env)
    assert '"handle-request"' in result.stdout  # console json exporter ran
    assert_no_secrets(result.stdout, result.stderr, trace_file.read_text())
    spans = {
        span.name: span
        for line in trace_file.read_text().splitlines()
        for rs in decode_traces_json_line(line).resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    }
    assert set(spans) == {"handle-request", "child"}
    attributes = {kv.key: kv.value.string_value for kv in spans["handle-request"].attributes}
    assert "[REDACTED:email]" in attributes["input.value"]
    assert len(attributes["doc"]) < 1100 and "truncated" in attributes["doc"]
    assert spans["child"].parent_span_id == spans["handle-request"].span_id
    assert "[REDACTED:email]" in spans["child"].events[0].attributes[0].value.string_value


def test_bad_config_fails_closed_without_crashing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "spanguard.yaml"
    bad.write_text("redaction:\n  detectors: [no_such_detector]\n")
    monkeypatch.setenv("SPANGUARD_CONFIG", str(bad))
    exporter = SpanguardSpanExporter()
    assert exporter.chain is None and exporter.error
    from opentelemetry.sdk.trace.export import SpanExportResult
    from support_spans import finished_spans

    assert exporter.export(finished_spans(1)) is SpanExportResult.FAILURE
    exporter.shutdown()
