"""Resource and scope attributes are redacted in-process, as the sidecar does."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from support_spans import SECRET_EMAIL

from spanguard.api import build_span_processor
from spanguard.processors.engine import Engine
from spanguard.processors.redaction import Redactor
from spanguard.processors.resource_scan import AttributeOwnerScanner


def test_an_email_in_the_resource_reaches_neither_console_nor_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPANGUARD_ENABLED", raising=False)
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    trace_file = tmp_path / "spans.jsonl"
    processor = build_span_processor(
        {"exporters": {"console": {"format": "json"}, "file": {"path": str(trace_file)}}}
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "svc", "team.contact": SECRET_EMAIL}))
    provider.add_span_processor(processor)
    for index in range(3):
        with provider.get_tracer("t").start_as_current_span(f"s{index}"):
            pass
    provider.shutdown()
    console, written = out.getvalue(), trace_file.read_text()
    assert len(console.splitlines()) == 3 and written
    for text in (console, written):
        assert SECRET_EMAIL not in text and "[REDACTED:email]" in text
    assert all(
        json.loads(line)["resource"]["attributes"]["service.name"] == "svc" for line in console.splitlines()
    )


def test_one_scan_per_resource_not_per_span() -> None:
    scanner = AttributeOwnerScanner(Engine(Redactor(), None))
    resource = Resource({"contact": SECRET_EMAIL, "service.name": "svc"})
    first = scanner.resource(resource)
    assert scanner.resource(resource) is first  # cached by identity
    assert first.attributes["contact"] == "[REDACTED:email]" and scanner.snapshot().redacted == 1
    clean = Resource({"service.name": "svc"})
    assert scanner.resource(clean) is clean  # nothing to change: the same object


def test_the_processor_counts_a_resource_once_in_its_stats(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan runs inside the one engine processor: its `.stats` counts the resource's
    changed value once, however many spans share that resource."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    monkeypatch.delenv("SPANGUARD_ENABLED", raising=False)
    memory = InMemorySpanExporter()
    processor = build_span_processor({}, exporters={"memory": memory})
    provider = TracerProvider(resource=Resource.create({"team.contact": SECRET_EMAIL}))
    provider.add_span_processor(processor)
    for index in range(3):
        with provider.get_tracer("t").start_as_current_span(f"s{index}"):
            pass
    provider.shutdown()
    spans = memory.get_finished_spans()
    assert [span.resource.attributes["team.contact"] for span in spans] == ["[REDACTED:email]"] * 3
    stats = processor.stats
    assert stats.spans == 3 and stats.redacted == 1 and stats.exporters["memory"].exported == 3
