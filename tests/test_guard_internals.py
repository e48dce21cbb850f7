"""The SDK internals `spanguard.guard` relies on: an SDK upgrade that changes them fails here.

pyproject pins opentelemetry-sdk to the range these hold for; this test is what makes
the pin safe to move.
"""

from __future__ import annotations

import inspect

from opentelemetry.sdk.trace import (
    ConcurrentMultiSpanProcessor,
    SpanProcessor,
    SynchronousMultiSpanProcessor,
    TracerProvider,
)
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


def test_provider_keeps_processors_in_a_multi_processor_with_a_tuple() -> None:
    provider = TracerProvider()
    multi = provider._active_span_processor
    assert type(multi) is SynchronousMultiSpanProcessor
    processor = SimpleSpanProcessor(InMemorySpanExporter())
    provider.add_span_processor(processor)
    assert multi._span_processors == (processor,)
    assert provider._active_span_processor is multi  # add_span_processor does not replace it


def test_tracers_hold_the_providers_multi_processor_object() -> None:
    provider = TracerProvider()
    tracer = provider.get_tracer("t")
    assert tracer.span_processor is provider._active_span_processor
    assert tracer.start_span("s")._span_processor is provider._active_span_processor  # type: ignore[attr-defined]


def test_spans_end_through_the_multi_processors_on_end() -> None:
    # a span's end() calls `_span_processor.on_end`, looked up on the object: a class
    # switch on the object reaches spans of tracers made before it
    source = inspect.getsource(__import__("opentelemetry.sdk.trace", fromlist=["Span"]).Span.end)
    assert "self._span_processor.on_end(" in source


def test_multi_processors_allow_a_class_switch() -> None:
    for base in (SynchronousMultiSpanProcessor, ConcurrentMultiSpanProcessor):
        sub = type("Sub", (base,), {})
        instance = base() if base is SynchronousMultiSpanProcessor else base(1)
        instance.__class__ = sub  # raises TypeError if the layouts ever differ (__slots__)
        assert isinstance(instance, SpanProcessor)
        assert isinstance(instance._span_processors, tuple)
        assert "on_end" in base.__dict__


def test_phoenix_register_uses_the_same_tuple() -> None:
    from phoenix.otel import TracerProvider as PhoenixProvider

    source = inspect.getsource(PhoenixProvider._shutdown_default_processor)
    assert "self._active_span_processor._span_processors" in source
