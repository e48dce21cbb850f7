"""The adapter visits only the attributes the prefilter's hits touch in a flagged span
(and whole spans when a hit lands in a name, status, event or link). These properties
pin that fast path to visiting everything: same outcome, byte-identical request, over
spans with many attributes, nested lists, arrays, events, links and status messages."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from spanguard.processors.otlp_adapter import transform_export_request
from spanguard.processors.redaction import Redactor
from spanguard.processors.truncation import Truncator
from support_otlp import key_value

from spanguard.config_model import RedactionConfig, TruncationConfig

TEXTS = st.one_of(
    st.sampled_from(
        [
            "plain words",
            "mail jane.doe@example.com",
            "call +1 415 555 0142 now",
            "password=hunter22",
            '{"api_key": "abc", "n": 1}',
            "Bearer abcdefghijklmnopqrstuv",
            "4111 1111 1111 1111",
            "z" * 150,
            "*" * 40,
            "\\u0040x",
            "paſſword=x",
            "",
        ]
    ),
    st.text(max_size=25),
)
LEAVES = st.one_of(TEXTS, st.integers(-5, 5), st.booleans(), st.binary(max_size=12))
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=80),
        st.dictionaries(st.sampled_from(["a", "password", "cookie"]), inner, max_size=3),
    ),
    max_leaves=90,
)
KEYS = st.sampled_from(
    [
        "input.value",
        "db.password",
        "user.name",
        "http.request.header.cookie",
        "note",
        "k",
        "embedding.embeddings.0.embedding.vector",
    ]
)
ATTRS = st.lists(st.tuples(KEYS, VALUES), max_size=8)


def _fill(container: Any, attributes: list[tuple[str, Any]]) -> None:
    for key, value in attributes:
        container.append(key_value(key, value))


SPANS = st.lists(
    st.tuples(
        ATTRS,
        TEXTS,  # name
        TEXTS,  # status message
        st.lists(ATTRS, max_size=2),  # events
        st.lists(ATTRS, max_size=2),  # links
        st.binary(min_size=8, max_size=8),  # span id
    ),
    min_size=1,
    max_size=5,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(SPANS)
def test_visiting_hit_attributes_equals_visiting_everything(spans: list[Any]) -> None:
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    for attributes, name, status, events, links, span_id in spans:
        span = scope_spans.spans.add()
        span.name = name
        span.span_id = span_id  # random bytes: may look like framing or an array tag
        span.trace_id = span_id * 2
        span.status.message = status
        _fill(span.attributes, attributes)
        for event_attributes in events:
            _fill(span.events.add().attributes, event_attributes)
        for link_attributes in links:
            _fill(span.links.add().attributes, link_attributes)
    for redaction, truncation in (
        (RedactionConfig(), TruncationConfig(max_length=100, max_list_items=64)),
        (
            RedactionConfig(detectors="all", block_keys=["user.*"], drop_keys=["http.request.header.*"]),
            TruncationConfig(max_length=30, max_length_by_key={"note": 16}, max_list_items=70),
        ),
        (RedactionConfig(summary="debug"), TruncationConfig(summary="debug")),
    ):
        fast, slow = ExportTraceServiceRequest(), ExportTraceServiceRequest()
        fast.CopyFrom(request)
        slow.CopyFrom(request)
        redactor, truncator = Redactor(redaction), Truncator(truncation)
        fast_outcome = transform_export_request(fast, redactor, truncator)
        slow_outcome = transform_export_request(slow, redactor, truncator, exhaustive=True)
        assert fast_outcome == slow_outcome
        assert fast.SerializeToString() == slow.SerializeToString()


def test_only_the_attribute_with_a_hit_changes_and_is_counted() -> None:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.name = "llm"
    _fill(span.attributes, [(f"attr.{i}", "clean text " * 20) for i in range(19)])
    _fill(span.attributes, [("input.value", "write to jane.doe@example.com please")])
    outcome = transform_export_request(request, Redactor(), Truncator())
    assert outcome.redacted == 1 and outcome.changed_spans == frozenset({0})
    values = {kv.key: kv.value.string_value for kv in span.attributes}
    assert values["input.value"] == "write to [REDACTED:email] please"
    assert all(values[f"attr.{i}"] == "clean text " * 20 for i in range(19))


def _nested_request() -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.name = "GET"
    _fill(span.attributes, [("http", {"request": {"header": {"x-custom": "value1"}}}), ("note", "clean")])
    return request


def test_key_rules_reach_nested_keys_on_the_fast_path() -> None:
    """`http` -> `request` -> `header` -> `x-custom` is the key `http.request.header.x-custom`
    to the rules, though those dots never appear in the bytes the prefilter scans."""
    for config, expected in (
        (RedactionConfig(drop_keys=["http.request.header.*"]), None),
        (RedactionConfig(block_keys=["http.request.header.*"]), "[REDACTED:blocked]"),
    ):
        fast, slow = _nested_request(), _nested_request()
        redactor, truncator = Redactor(config), Truncator(TruncationConfig())
        assert transform_export_request(fast, redactor, truncator) == transform_export_request(
            slow, redactor, truncator, exhaustive=True
        )
        assert fast.SerializeToString() == slow.SerializeToString()
        header = fast.resource_spans[0].scope_spans[0].spans[0].attributes[0].value.kvlist_value.values[0]
        entries = header.value.kvlist_value.values[0].value.kvlist_value.values
        assert [kv.value.string_value for kv in entries] == ([] if expected is None else [expected])
