"""exporters/span_encoder: the same request, in meaning, as the SDK's encode_spans."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from spanguard.exporters.span_encoder import encode_spans_bytes

text = st.text(max_size=30)  # includes lone surrogates: both encoders must leave those out
scalar = st.one_of(
    text,
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False),
    st.binary(max_size=8),
)
value = st.one_of(scalar, st.none(), st.lists(st.one_of(scalar, st.none()), max_size=3).map(tuple))
attributes = st.dictionaries(st.text(min_size=1, max_size=12), value, max_size=5)
ids = st.integers(min_value=1, max_value=2**64 - 1)
trace_state = st.dictionaries(
    st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True),
    st.from_regex(r"[a-z0-9]{1,6}", fullmatch=True),
    max_size=2,
)
RESOURCES = [
    Resource({"service.name": "a"}),
    Resource({"service.name": "a"}),  # equal, distinct
    Resource({"service.name": "b", "n": 1}, "https://schema/1"),
]
SCOPES = [
    None,
    InstrumentationScope("lib", "1.0"),
    InstrumentationScope("lib", "1.0"),
    InstrumentationScope("other", None, "https://schema/2", {"scope.attr": True}),
]


def context(draw: Any, remote: bool) -> SpanContext:
    return SpanContext(
        draw(ids) << 64 | draw(ids),
        draw(ids),
        is_remote=remote,
        trace_flags=TraceFlags(1),
        trace_state=TraceState(list(draw(trace_state).items())),
    )


@st.composite
def spans(draw: Any) -> ReadableSpan:
    parent = draw(st.one_of(st.none(), st.booleans()))
    code = draw(st.sampled_from(list(StatusCode)))
    start = draw(st.integers(min_value=0, max_value=2**63))
    return ReadableSpan(
        name=draw(text),
        context=context(draw, False),
        parent=None if parent is None else context(draw, parent),
        resource=draw(st.sampled_from(RESOURCES)),
        attributes=draw(attributes),
        events=[
            Event(draw(text), draw(attributes), timestamp=draw(st.integers(0, 2**63)))
            for _ in range(draw(st.integers(0, 2)))
        ],
        links=[
            Link(context(draw, draw(st.booleans())), draw(attributes)) for _ in range(draw(st.integers(0, 2)))
        ],
        kind=draw(st.sampled_from(list(SpanKind))),
        status=Status(code, draw(text) if code is StatusCode.ERROR else None),
        start_time=start,
        end_time=draw(st.one_of(st.none(), st.just(start + 5))),
        instrumentation_scope=draw(st.sampled_from(SCOPES)),
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(spans(), max_size=6))
def test_the_request_means_what_the_sdk_encoder_says(batch: list[ReadableSpan]) -> None:
    ours = ExportTraceServiceRequest.FromString(encode_spans_bytes(batch))
    sdk = ExportTraceServiceRequest.FromString(encode_spans(batch).SerializeToString())
    assert ours == sdk


def test_reference_llm_spans_match_too() -> None:
    from support_spans import finished_spans

    llm = {f"llm.attr.{i}": "x" * 200 for i in range(19)}
    batch = finished_spans(20, **llm, **{"input.value": "p" * 8192})
    assert encode_spans_bytes(batch) and (
        ExportTraceServiceRequest.FromString(encode_spans_bytes(batch))
        == ExportTraceServiceRequest.FromString(encode_spans(batch).SerializeToString())
    )
