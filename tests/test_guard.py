"""`spanguard.guard(provider)`: every processor of the provider gets the cleaned span."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ConcurrentMultiSpanProcessor, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support_spans import PLANTED_SECRETS, SECRET_EMAIL, make_rag_trace

import spanguard
from spanguard.errors import SpanguardError
from spanguard.guarding import guard_of


def _dump(memory: InMemorySpanExporter) -> str:
    return repr(
        [
            (
                s.name,
                dict(s.attributes or {}),
                [dict(e.attributes or {}) for e in s.events],
                dict(s.resource.attributes),
                dict(s.instrumentation_scope.attributes or {}) if s.instrumentation_scope else {},
            )
            for s in memory.get_finished_spans()
        ]
    )


@pytest.fixture(autouse=True)
def _export_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPANGUARD_ENABLED", raising=False)


def test_processors_added_before_and_after_and_old_tracers_get_clean_spans() -> None:
    provider = TracerProvider(
        resource=Resource.create({"service.name": "guarded", "owner.contact": SECRET_EMAIL})
    )
    before, after = InMemorySpanExporter(), InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(before))
    early_tracer = provider.get_tracer("made-before-guard")
    handle = spanguard.guard(provider, {"truncation": {"max_length": 2048}})
    provider.add_span_processor(SimpleSpanProcessor(after))
    make_rag_trace(provider)
    with early_tracer.start_as_current_span("early") as span:
        span.set_attribute("note", f"write to {SECRET_EMAIL}")
    provider.shutdown()
    for memory in (before, after):
        spans = memory.get_finished_spans()
        assert sorted(s.name for s in spans) == ["early", "llm.completion", "rag.query", "retrieve"]
        text = _dump(memory)
        for secret in PLANTED_SECRETS:
            assert secret not in text
        assert "[REDACTED:email]" in text
        retrieve = next(s for s in spans if s.name == "retrieve")
        assert len(str(retrieve.attributes["retrieval.documents.0.document.content"])) < 2200  # type: ignore[index]
        assert all(s.resource.attributes["service.name"] == "guarded" for s in spans)
    assert handle.stats.spans == 4
    assert handle.stats.redacted >= 5 and handle.stats.truncated >= 1


def test_guard_adds_no_processor_and_twice_is_harmless(caplog: pytest.LogCaptureFixture) -> None:
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    first = spanguard.guard(provider)
    with caplog.at_level(logging.WARNING, logger="spanguard"):
        second = spanguard.guard(provider, {"redaction": {"detectors": "none"}})
    assert second is first and guard_of(provider) is first
    assert "already guarded" in caplog.text
    assert len(provider._active_span_processor._span_processors) == 1
    with provider.get_tracer("t").start_as_current_span("s") as span:
        span.set_attribute("input.value", f"mail {SECRET_EMAIL}")
    provider.shutdown()
    (only,) = memory.get_finished_spans()
    assert "[REDACTED:email]" in str(only.attributes["input.value"])  # redacted once, by the first config


def test_scope_attributes_are_scanned() -> None:
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    spanguard.guard(provider)
    tracer = provider.get_tracer("lib", "1.0", attributes={"maintainer": SECRET_EMAIL})
    with tracer.start_as_current_span("s"):
        pass
    provider.shutdown()
    (span,) = memory.get_finished_spans()
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.attributes["maintainer"] == "[REDACTED:email]"
    assert span.instrumentation_scope.name == "lib" and span.instrumentation_scope.version == "1.0"


def test_concurrent_multi_processor_is_guarded_too() -> None:
    provider = TracerProvider(active_span_processor=ConcurrentMultiSpanProcessor(2))
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    spanguard.guard(provider)
    make_rag_trace(provider)
    provider.shutdown()
    assert len(memory.get_finished_spans()) == 3
    assert all(secret not in _dump(memory) for secret in PLANTED_SECRETS)


def test_export_off_switch_discards_every_span(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPANGUARD_ENABLED", "false")
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    handle = spanguard.guard(provider)
    make_rag_trace(provider)
    provider.shutdown()
    assert memory.get_finished_spans() == ()
    assert handle.exporting is False and handle.stats.dropped == 3


def test_a_redaction_failure_drops_the_span_and_logs_only_the_type(caplog: pytest.LogCaptureFixture) -> None:
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    handle = spanguard.guard(provider)
    stage = handle.chain  # the engine processor in front of the provider's own

    def explode(span: ReadableSpan) -> ReadableSpan:
        raise ValueError(f"cannot handle {span.attributes['input.value']}")  # type: ignore[index]

    stage.process = explode
    with caplog.at_level(logging.DEBUG):
        with provider.get_tracer("t").start_as_current_span("s") as span:
            span.set_attribute("input.value", f"mail {SECRET_EMAIL}")
        provider.shutdown()
    assert memory.get_finished_spans() == ()
    assert "ValueError" in caplog.text and "1 failures so far" in caplog.text
    assert SECRET_EMAIL not in caplog.text and "Traceback" not in caplog.text
    assert all(record.exc_info is None for record in caplog.records)
    assert handle.stats.failed == 1 and handle.stats.dropped == 1


def test_a_provider_that_is_not_the_sdks_is_refused() -> None:
    from opentelemetry.trace import NoOpTracerProvider

    with pytest.raises(SpanguardError, match="SDK TracerProvider"):
        spanguard.guard(NoOpTracerProvider())
