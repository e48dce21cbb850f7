"""The adapter visits only the attributes the prefilter's hits touch in a flagged span
(and whole spans when a hit lands in a name, status, event or link). These properties
pin that fast path to visiting everything: same outcome, byte-identical request, over
spans with many attributes, nested lists, arrays, events, links and status messages."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from support_otlp import key_value, prefiltered_as_exhaustive

from spanguard.config.model import RedactionConfig, TruncationConfig
from spanguard.processors.otlp_adapter import transform_export_request
from spanguard.processors.otlp_units import unit_bounds
from spanguard.processors.protowire import LEN, encode_varint
from spanguard.processors.redaction import Redactor
from spanguard.processors.truncation import Truncator

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
        prefiltered_as_exhaustive(request, Redactor(redaction), Truncator(truncation))


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


@pytest.mark.parametrize(
    "middle",
    [
        "write to jane.doe@example.com or call +1 415 555 0142, password=hunter22",
        "token_count=12 password=hunter22 jane.doe@example.com",  # a refused candidate first
        "paſſword=hunter22 and jane.doe@example.com",  # RE2 folds ſ: the flag's hit is late
        "card 4111 1111 1111 1111 then AKIAIOSFODNN7EXAMPLE",
    ],
)
def test_a_long_prompt_is_scanned_from_its_first_hit_to_its_last(
    middle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a flagged string the detectors' scan starts at the prefilter's first hit and
    stops looking for matches after its last (`_scan_window`): the outcome is what
    visiting everything gives, and most of the prompt is never read."""
    from spanguard.processors.scanner import Scanner

    prompt = PROMPT_WORDS * 40 + middle + " " + PROMPT_WORDS * 40
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.name = "llm"
    _fill(span.attributes, [("attr.0", "clean text"), ("input.value", prompt)])
    read: list[int] = []
    scan = Scanner.scan

    def counting(self: Scanner, buffer: bytes, start: int = 0, end: int | None = None, **kw: Any) -> Any:
        found = scan(self, buffer, start, end, **kw)
        read.append((kw.get("starts_before") or (len(buffer) if end is None else end)) - start)
        return found

    monkeypatch.setattr(Scanner, "scan", counting)
    wire = request.SerializeToString()
    fast = ExportTraceServiceRequest.FromString(wire)
    fast_outcome = transform_export_request(fast, Redactor(), Truncator(), original=wire)
    monkeypatch.setattr(Scanner, "scan", scan)
    slow = ExportTraceServiceRequest.FromString(wire)
    slow_outcome = transform_export_request(slow, Redactor(), Truncator(), exhaustive=True)
    assert fast_outcome == slow_outcome and fast_outcome.redacted >= 1
    assert fast.SerializeToString() == slow.SerializeToString()
    if "ſ" in middle:
        assert max(read) >= len(prompt.encode())  # folded letters: the whole string is read
    else:
        assert sum(read) < len(middle) + 100  # the window: the middle, not the 6 KB around it


PROMPT_WORDS = "the agent answered a question about the refund policy and the team hours "


# strings of several fragments with text between them: hits in the middle of a string,
# several per string, refused candidates next to real ones
LONG_TEXTS = st.lists(
    st.one_of(
        TEXTS,
        st.sampled_from(["token_count=12", "ref 123456789", "AKIAIOSFODNN7EXAMPLE", "x@y", "0x", "é"]),
        st.just(PROMPT_WORDS),
    ),
    min_size=1,
    max_size=14,
).map(lambda parts: "".join(f"{part} " for part in parts))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.tuples(KEYS, LONG_TEXTS), min_size=1, max_size=4), min_size=1, max_size=4))
def test_scan_windows_in_long_strings_equal_visiting_everything(spans: list[Any]) -> None:
    """The detectors read a flagged string from its first hit to its last: the outcome is
    byte for byte what visiting and reading everything gives."""
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    for attributes in spans:
        _fill(scope_spans.spans.add().attributes, attributes)
    wire = request.SerializeToString()
    for redaction in (RedactionConfig(), RedactionConfig(detectors="all")):
        fast, slow = ExportTraceServiceRequest.FromString(wire), ExportTraceServiceRequest.FromString(wire)
        fast_outcome = transform_export_request(fast, Redactor(redaction), Truncator(), original=wire)
        slow_outcome = transform_export_request(slow, Redactor(redaction), Truncator(), exhaustive=True)
        assert fast_outcome == slow_outcome
        assert fast.SerializeToString() == slow.SerializeToString()


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


# ---- scanning the client's bytes (the sidecar passes `original`) ---------------------------


def _field(number: int, payload: bytes) -> bytes:
    return encode_varint(number << 3 | LEN) + encode_varint(len(payload)) + payload


MISTYPED_HEAD = bytes([1 << 3 | 0, 5])  # field 1 as a varint: the parser keeps it as unknown
UNKNOWN = _field(15, b"jane.doe@example.com")  # an unknown field that looks like a hit
LAYOUTS = ["canonical", "head_last", "head_twice", "unknown_fields", "mistyped"]


def _message(head: bytes, children: list[bytes], layout: str, head_split: bytes | None = None) -> bytes:
    """A ResourceSpans or ScopeSpans on the wire, laid out as a client might send it."""
    parts = [_field(2, child) for child in children]
    if layout == "head_last":
        return b"".join(parts) + _field(1, head)
    if layout == "head_twice" and head_split is not None:
        return _field(1, head) + _field(1, head_split) + b"".join(parts)  # the parser merges the two
    if layout == "unknown_fields":
        return UNKNOWN + _field(1, head) + UNKNOWN + b"".join(part + UNKNOWN for part in parts)
    if layout == "mistyped":
        return MISTYPED_HEAD + _field(1, head) + b"".join(parts)
    return _field(1, head) + b"".join(parts)


def _owner_bytes(attributes: list[tuple[str, Any]], message: Any) -> bytes:
    _fill(message.attributes, attributes)
    return bytes(message.SerializeToString())


REQUESTS = st.lists(
    st.tuples(ATTRS, ATTRS, st.lists(st.tuples(ATTRS, SPANS), min_size=1, max_size=2)),
    min_size=1,
    max_size=2,
)


def _wire_request(resources: list[Any], layout: str) -> bytes:
    body = b""
    for resource_attrs, extra_attrs, scopes in resources:
        scope_parts = []
        for scope_attrs, spans in scopes:
            spans_bytes = []
            for attributes, name, status, events, _links, span_id in spans:
                span = Span(name=name, span_id=span_id, trace_id=span_id * 2)
                span.status.message = status
                _fill(span.attributes, attributes)
                for event_attributes in events:
                    _fill(span.events.add().attributes, event_attributes)
                spans_bytes.append(span.SerializeToString())
            scope = _owner_bytes(scope_attrs, InstrumentationScope(name="lib"))
            second = _owner_bytes(extra_attrs, InstrumentationScope())
            scope_parts.append(_message(scope, spans_bytes, layout, second))
        resource = _owner_bytes(resource_attrs, Resource())
        body += _field(1, _message(resource, scope_parts, layout, _owner_bytes(extra_attrs, Resource())))
    return body


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(REQUESTS, st.sampled_from(LAYOUTS))
def test_scanning_the_client_bytes_equals_visiting_everything(resources: list[Any], layout: str) -> None:
    """Any field order, repeated heads, unknown and mis-typed fields: the result is the one
    of visiting every value (the walk gives up where it could disagree with the parser)."""
    body = _wire_request(resources, layout)
    for redaction, truncation in (
        (RedactionConfig(), TruncationConfig(max_length=100, max_list_items=64)),
        (
            RedactionConfig(detectors="all", block_keys=["user.*"], drop_keys=["http.request.header.*"]),
            TruncationConfig(max_length=30, max_length_by_key={"note": 16}, max_list_items=70),
        ),
    ):
        request = ExportTraceServiceRequest.FromString(body)
        prefiltered_as_exhaustive(request, Redactor(redaction), Truncator(truncation), original=body)


def test_unit_bounds_are_the_units_bytes_where_the_walk_is_safe() -> None:
    spans = [([("input.value", "mail jane.doe@example.com")], "llm", "", [], [], b"\x01" * 8)] * 3
    resources = [([("service.name", "a")], [("host", "b")], [([("k", "v")], spans)])]
    for layout in ("canonical", "unknown_fields", "mistyped"):
        body = _wire_request(resources, layout)
        found = unit_bounds(body)
        assert found is not None, layout
        request = ExportTraceServiceRequest.FromString(body)
        units = [
            request.resource_spans[0].resource,
            request.resource_spans[0].scope_spans[0].scope,
            *request.resource_spans[0].scope_spans[0].spans,
        ]
        pieces = [body[start:end] for start, end in zip(*found, strict=True)]
        # unknown fields ride along inside a unit's bytes; without them the bytes are the unit's
        assert len(pieces) == len(units) == 5
        if layout == "canonical":
            assert pieces == [unit.SerializeToString() for unit in units]
    # the parser merges a repeated head, and a head after its spans is out of request order
    assert unit_bounds(_wire_request(resources, "head_twice")) is None
    assert unit_bounds(_wire_request(resources, "head_last")) is None
    assert unit_bounds(b"\x0a\x05\x0a") is None  # runs past the end
