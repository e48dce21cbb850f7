"""The SDK processors on real spans from a real TracerProvider, captured in memory."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from spanguard.config.model import RedactionConfig, TruncationConfig
from spanguard.processors.detectors import Detector
from spanguard.processors.engine import Engine
from spanguard.processors.redaction import Redactor
from spanguard.processors.span_processors import SpanguardSpanProcessor
from spanguard.processors.truncation import Truncator

EMAIL = "jane.doe@example.com"


class Pipeline:
    def __init__(
        self,
        redaction: RedactionConfig | None = None,
        truncation: TruncationConfig | None = None,
        limits: SpanLimits | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.exporter = InMemorySpanExporter()
        engine = Engine(
            redactor or Redactor(redaction),
            Truncator(truncation or TruncationConfig(max_length=64)),
            truncation_fails_open=True,
        )
        self.processor = SpanguardSpanProcessor(SimpleSpanProcessor(self.exporter), engine)
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": "svc", "team": "t"}), span_limits=limits
        )
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer("test.scope", "1.2.3")

    def spans(self) -> dict[str, ReadableSpan]:
        return {span.name: span for span in self.exporter.get_finished_spans()}


@pytest.fixture
def pipeline() -> Iterator[Pipeline]:
    built = Pipeline()
    yield built
    built.provider.shutdown()


def test_exported_span_is_redacted_and_truncated_with_everything_else_intact(pipeline: Pipeline) -> None:
    tracer = pipeline.tracer
    with tracer.start_as_current_span("parent") as parent:
        parent_context = parent.get_span_context()
    with tracer.start_as_current_span(
        "llm call for " + EMAIL,
        kind=SpanKind.CLIENT,
        links=[Link(parent_context, {"why": f"asked by {EMAIL}", "n": 2})],
    ) as span:
        span.set_attribute("input.value", json.dumps({"content": f"I am {EMAIL}"}))
        span.set_attribute("output.value", "long answer " * 20)
        span.set_attribute("llm.token_count.total", 42)
        span.set_attribute("tags", ["ok", f"mail {EMAIL}"])
        span.add_event("exception", {"exception.message": "login failed: password=hunter22"}, timestamp=123)
        span.set_status(Status(StatusCode.ERROR, f"no user {EMAIL}"))
        original_context = span.get_span_context()
        start_time = span.start_time
    exported = pipeline.spans()["llm call for [REDACTED:email]"]
    attributes = dict(exported.attributes or {})
    assert json.loads(attributes["input.value"]) == {"content": "I am [REDACTED:email]"}
    assert len(attributes["output.value"]) == 64 and attributes["output.value"].endswith(
        "[truncated 240 chars]"
    )
    assert attributes["llm.token_count.total"] == 42
    assert attributes["tags"] == ("ok", "mail [REDACTED:email]")
    assert attributes["spanguard.redacted.count"] == 6  # name, input, tags, event, link, status
    assert attributes["spanguard.truncated.count"] == 1
    assert exported.status.status_code is StatusCode.ERROR
    assert exported.status.description == "no user [REDACTED:email]"
    assert exported.events[0].name == "exception" and exported.events[0].timestamp == 123
    assert exported.events[0].attributes == {
        "exception.message": "login failed: password=[REDACTED:password]"
    }
    assert exported.links[0].context == parent_context
    assert dict(exported.links[0].attributes or {}) == {"why": "asked by [REDACTED:email]", "n": 2}
    # untouched fields
    assert exported.context == original_context
    assert exported.parent is None
    assert exported.kind is SpanKind.CLIENT
    assert exported.start_time == start_time and exported.end_time is not None
    assert exported.resource.attributes["service.name"] == "svc"
    assert exported.instrumentation_scope is not None
    assert (exported.instrumentation_scope.name, exported.instrumentation_scope.version) == (
        "test.scope",
        "1.2.3",
    )
    # the parent had nothing to change: passed on as the very same object, no copy
    assert "spanguard.redacted.count" not in (pipeline.spans()["parent"].attributes or {})
    assert pipeline.processor.stats.spans == 2
    assert pipeline.processor.stats.redacted == 6
    assert pipeline.processor.stats.truncated == 1


def test_child_keeps_its_parent(pipeline: Pipeline) -> None:
    with (
        pipeline.tracer.start_as_current_span("outer") as outer,
        pipeline.tracer.start_as_current_span(f"inner {EMAIL}"),
    ):
        pass
    spans = pipeline.spans()
    inner = spans["inner [REDACTED:email]"]
    assert inner.parent is not None and inner.parent.span_id == outer.get_span_context().span_id
    assert inner.context.trace_id == outer.get_span_context().trace_id


def test_dropped_counts_survive_the_copy() -> None:
    limits = SpanLimits(
        max_span_attributes=2, max_events=1, max_links=1, max_event_attributes=1, max_link_attributes=1
    )
    built = Pipeline(limits=limits)
    with built.tracer.start_as_current_span("p") as parent:
        context = parent.get_span_context()
    links = [Link(context, {"a": "x", "b": EMAIL}), Link(context, {"c": "y", "d": EMAIL})]
    with built.tracer.start_as_current_span("s", links=links) as span:
        span.set_attribute("one", EMAIL)
        span.set_attribute("two", "x")
        span.set_attribute("three", "y")
        span.add_event("e2", {"m": "q"})
        span.add_event("e1", {"k": "z", "m": EMAIL})  # the newest event is kept; "k" is dropped
    exported = built.spans()["s"]
    assert exported.dropped_attributes == 1
    assert exported.dropped_events == 1
    assert exported.dropped_links == 1
    assert exported.events[0].name == "e1" and exported.events[0].dropped_attributes == 1
    assert exported.events[0].attributes == {"m": "[REDACTED:email]"}
    assert exported.links[0].dropped_attributes == 1
    assert EMAIL not in str(dict(exported.links[0].attributes or {}))
    # the summary attribute is added on top of the limited ones; the secrets are gone
    assert EMAIL not in json.dumps({k: str(v) for k, v in (exported.attributes or {}).items()})
    built.provider.shutdown()


def test_drop_and_block_keys_and_debug_summary() -> None:
    built = Pipeline(
        RedactionConfig(drop_keys=["http.request.header.cookie"], block_keys=["user.*"], summary="debug")
    )
    with built.tracer.start_as_current_span("s") as span:
        span.set_attribute("http.request.header.cookie", "session=1")
        span.set_attribute("user.name", "Jane")
        span.set_attribute("note", EMAIL)
    attributes = dict(built.spans()["s"].attributes or {})
    assert "http.request.header.cookie" not in attributes
    assert attributes["user.name"] == "[REDACTED:blocked]"
    assert attributes["spanguard.redacted.count"] == 3
    assert attributes["spanguard.redacted.keys"] == ("note",)
    assert attributes["spanguard.blocked.keys"] == ("user.name",)
    assert attributes["spanguard.dropped.keys"] == ("http.request.header.cookie",)
    assert built.processor.stats.dropped == 1
    built.provider.shutdown()


def test_silent_summary_adds_nothing() -> None:
    built = Pipeline(RedactionConfig(summary="silent"), TruncationConfig(summary="silent", max_length=16))
    with built.tracer.start_as_current_span("s") as span:
        span.set_attribute("note", EMAIL + " and a long tail of text")
    attributes = dict(built.spans()["s"].attributes or {})
    assert set(attributes) == {"note"}
    built.provider.shutdown()


def _raises(candidate: bytes) -> tuple[int, int] | None:
    raise ValueError("broken detector")


def test_fail_closed_span_still_exported_and_counted() -> None:
    redactor = Redactor(RedactionConfig(), extra_detectors=[Detector("boom", r"BOOM", _raises)])
    built = Pipeline(redactor=redactor)
    with built.tracer.start_as_current_span("s") as span:
        span.set_attribute("bad", "xBOOMx secret stuff")
        span.set_attribute("good", "fine")
    exported = built.spans()["s"]
    attributes = dict(exported.attributes or {})
    assert attributes["bad"] == "[REDACTED:error]"
    assert attributes["good"] == "fine"
    assert built.processor.stats.failed == 1
    built.provider.shutdown()


class _Recorder(SpanProcessor):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def on_start(self, span: object, parent_context: object = None) -> None:
        self.calls.append("start")

    def on_end(self, span: ReadableSpan) -> None:
        self.calls.append("end")

    def shutdown(self) -> None:
        self.calls.append("shutdown")

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.calls.append(f"flush:{timeout_millis}")
        return True


def test_lifecycle_calls_go_through_and_adapter_bugs_never_reach_the_app() -> None:
    recorder = _Recorder()
    chain = SpanguardSpanProcessor(recorder, Engine(Redactor(), Truncator(), truncation_fails_open=True))
    provider = TracerProvider()
    provider.add_span_processor(chain)
    with provider.get_tracer("t").start_as_current_span("s"):
        pass
    assert chain.force_flush(1234)
    chain.on_end(object())  # type: ignore[arg-type]  # not a span: must not raise
    provider.shutdown()
    assert recorder.calls == ["start", "end", "flush:1234", "shutdown"]
    assert chain.stats.failed == 1 and chain.stats.dropped == 1  # fail closed: dropped, not exported


def test_summary_adds_to_one_an_earlier_hop_left() -> None:
    """Bug 3, SDK side: a span already carrying spanguard's summary (an earlier hop's) gets
    the counts added and the key lists joined, not overwritten."""
    built = Pipeline(RedactionConfig(summary="debug"))
    with built.tracer.start_as_current_span("s") as span:
        span.set_attribute("spanguard.redacted.count", 2)
        span.set_attribute("spanguard.redacted.keys", ("earlier.key", "note"))
        span.set_attribute("note", EMAIL)
    attributes = dict(built.spans()["s"].attributes or {})
    assert attributes["spanguard.redacted.count"] == 3
    assert attributes["spanguard.redacted.keys"] == ("earlier.key", "note")
    assert attributes["note"] == "[REDACTED:email]"
    built.provider.shutdown()
