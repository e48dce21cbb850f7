"""The OTLP adapter edits real ExportTraceServiceRequest messages in place."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from support_otlp import key_value

from spanguard.config.model import RedactionConfig, TruncationConfig
from spanguard.processors.detectors import Detector
from spanguard.processors.otlp_adapter import transform_export_request
from spanguard.processors.redaction import Redactor
from spanguard.processors.truncation import Truncator

EMAIL = "jane.doe@example.com"
KEY = "sk-proj-Abc123def456GHI789jkl012MNO345"


def _request(spans: int = 2) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(key_value("service.name", "svc"))
    resource_spans.resource.attributes.append(key_value("host.owner", EMAIL))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "scope"
    scope_spans.scope.version = "1.0"
    scope_spans.scope.attributes.append(key_value("scope.contact", EMAIL))
    for index in range(spans):
        span = scope_spans.spans.add()
        span.trace_id = bytes([index + 1]) * 16
        span.span_id = bytes([index + 1]) * 8
        span.parent_span_id = bytes([9]) * 8
        span.name = f"call {EMAIL}" if index == 0 else "clean name"
        span.kind = 3
        span.start_time_unix_nano = 1000 + index
        span.end_time_unix_nano = 2000 + index
        span.dropped_attributes_count = 4
        span.dropped_events_count = 5
        span.dropped_links_count = 6
        span.status.code = 2
        span.status.message = f"failed for {EMAIL}" if index == 0 else "ok"
        span.attributes.append(key_value("input.value", f"my key is {KEY}" if index == 0 else "nothing here"))
        span.attributes.append(key_value("llm.token_count.total", 12))
        span.attributes.append(key_value("score", 0.5))
        span.attributes.append(key_value("flag", True))
        span.attributes.append(key_value("tags", ["fine", f"to {EMAIL}"] if index == 0 else ["a", "b"]))
        span.attributes.append(key_value("embedding.embeddings.0.embedding.vector", [0.1, 0.2, 0.3]))
        span.attributes.append(
            key_value(
                "http.request.header",
                {"authorization": "Bearer abcdefghijklmnopqrstu", "accept": "text/plain"},
            )
        )
        span.attributes.append(key_value("blob", b"\xff\xfe" + EMAIL.encode()))
        span.attributes.append(key_value("output.value", "z" * 500))
        event = span.events.add()
        event.name = "exception"
        event.time_unix_nano = 1500
        event.attributes.append(key_value("exception.message", "password=hunter22"))
        link = span.links.add()
        link.trace_id = b"\x07" * 16
        link.span_id = b"\x08" * 8
        link.attributes.append(key_value("note", EMAIL))
    return request


def _attributes(items: Any) -> dict[str, Any]:
    out = {}
    for kv in items:
        which = kv.value.WhichOneof("value")
        if which == "array_value":
            out[kv.key] = [MessageToDict(v) for v in kv.value.array_value.values]
        elif which == "kvlist_value":
            out[kv.key] = {inner.key: MessageToDict(inner.value) for inner in kv.value.kvlist_value.values}
        else:
            out[kv.key] = getattr(kv.value, which)
    return out


def test_request_is_redacted_and_truncated_in_place() -> None:
    request = _request()
    outcome = transform_export_request(
        request, Redactor(RedactionConfig()), Truncator(TruncationConfig(max_length=100))
    )
    assert outcome.changed and outcome.spans == 2
    resource_spans = request.resource_spans[0]
    assert _attributes(resource_spans.resource.attributes) == {
        "service.name": "svc",
        "host.owner": "[REDACTED:email]",
    }
    assert _attributes(resource_spans.scope_spans[0].scope.attributes) == {
        "scope.contact": "[REDACTED:email]"
    }
    first, second = resource_spans.scope_spans[0].spans
    assert first.name == "call [REDACTED:email]"
    assert first.status.message == "failed for [REDACTED:email]" and first.status.code == 2
    attributes = _attributes(first.attributes)
    assert attributes["input.value"] == "my key is [REDACTED:api_key]"
    assert (
        attributes["llm.token_count.total"] == 12
        and attributes["score"] == 0.5
        and attributes["flag"] is True
    )
    assert attributes["tags"] == [{"stringValue": "fine"}, {"stringValue": "to [REDACTED:email]"}]
    assert "embedding.embeddings.0.embedding.vector" not in attributes  # dropped by default
    assert attributes["http.request.header"] == {
        "authorization": {"stringValue": "Bearer [REDACTED:bearer_token]"},
        "accept": {"stringValue": "text/plain"},
    }
    assert attributes["blob"] == b"\xff\xfe[REDACTED:email]"
    assert len(attributes["output.value"]) == 100 and attributes["output.value"].endswith(
        "[truncated 500 chars]"
    )
    assert attributes["spanguard.redacted.count"] == 8
    assert attributes["spanguard.truncated.count"] == 2  # output.value cut + embedding vector dropped
    assert _attributes(first.events[0].attributes) == {"exception.message": "password=[REDACTED:password]"}
    assert _attributes(first.links[0].attributes) == {"note": "[REDACTED:email]"}
    # untouched: ids, times, kinds, dropped counts, event/link identity
    assert (
        first.trace_id == b"\x01" * 16
        and first.span_id == b"\x01" * 8
        and first.parent_span_id == b"\x09" * 8
    )
    assert (first.kind, first.start_time_unix_nano, first.end_time_unix_nano) == (3, 1000, 2000)
    assert (first.dropped_attributes_count, first.dropped_events_count, first.dropped_links_count) == (
        4,
        5,
        6,
    )
    assert first.events[0].time_unix_nano == 1500 and first.links[0].trace_id == b"\x07" * 16
    # the second span: clean name, status and input stay; header, blob, event and link are masked
    assert second.name == "clean name" and second.status.message == "ok"
    second_attributes = _attributes(second.attributes)
    assert second_attributes["input.value"] == "nothing here"
    assert second_attributes["tags"] == [{"stringValue": "a"}, {"stringValue": "b"}]
    assert second_attributes["spanguard.redacted.count"] == 4
    assert outcome.dropped == 2  # the two embedding vectors
    assert outcome.truncated == 2
    assert outcome.redacted == 2 + 8 + 4  # resource + scope, first span, second span
    assert outcome.failed == 0
    assert EMAIL not in str(request) and KEY not in str(request)
    ExportTraceServiceRequest.FromString(request.SerializeToString())  # still a valid message


def test_clean_request_is_left_alone() -> None:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.name = "fine"
    span.attributes.append(key_value("a", "plain words"))
    before = request.SerializeToString()
    outcome = transform_export_request(request, Redactor(), Truncator())
    assert not outcome.changed and outcome.spans == 1
    assert request.SerializeToString() == before


def test_only_one_engine_may_be_given() -> None:
    request = _request(1)
    outcome = transform_export_request(request, None, Truncator(TruncationConfig(max_length=100)))
    assert outcome.redacted == 0 and outcome.truncated == 1
    assert EMAIL in str(request)
    request = _request(1)
    outcome = transform_export_request(request, Redactor(), None)
    assert outcome.truncated == 0 and outcome.redacted > 0


def test_debug_summary_lists_keys_never_values() -> None:
    request = _request(1)
    transform_export_request(request, Redactor(RedactionConfig(summary="debug")), None)
    attributes = _attributes(request.resource_spans[0].scope_spans[0].spans[0].attributes)
    keys = [item["stringValue"] for item in attributes["spanguard.redacted.keys"]]
    assert "input.value" in keys and "span.name" in keys and "events.0.exception.message" in keys
    assert "http.request.header.authorization" in keys
    assert all(EMAIL not in key for key in keys)


def _raises(candidate: bytes) -> tuple[int, int] | None:
    raise RuntimeError("broken")


def test_failing_detector_fails_closed_in_requests() -> None:
    request = _request(1)
    redactor = Redactor(RedactionConfig(), extra_detectors=[Detector("boom", r"text/plain", _raises)])
    outcome = transform_export_request(request, redactor, None)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    header = _attributes(span.attributes)["http.request.header"]
    assert header["accept"] == {"stringValue": "[REDACTED:error]"}
    assert outcome.failed == 1
    assert _attributes(span.attributes)["input.value"] == "my key is [REDACTED:api_key]"


def test_many_spans_in_one_request() -> None:
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    for index in range(600):
        span = scope_spans.spans.add()
        span.name = "s"
        text = f"user{index}@example.com" if index % 7 == 0 else f"clean {index}"
        span.attributes.append(key_value("v", text))
    outcome = transform_export_request(request, Redactor(), Truncator())
    assert outcome.spans == 600 and outcome.redacted == len(range(0, 600, 7))
    for index, span in enumerate(scope_spans.spans):
        value = span.attributes[0].value.string_value
        assert value == ("[REDACTED:email]" if index % 7 == 0 else f"clean {index}")


VALUES = st.one_of(
    st.sampled_from(
        [
            EMAIL,
            KEY,
            "password=hunter22",
            "plain",
            "paſſword=hunter22",
            '{"password": "x"}',
            "4111 1111 1111 1111",
            "z" * 300,
            "\\u0040",
            "Bearer abcdefghijklmnopqrstuv",
        ]
    ),
    st.text(max_size=30),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.lists(st.one_of(st.text(max_size=10), st.just(EMAIL)), max_size=80),
    st.binary(max_size=20),
)
KEYS = st.sampled_from(
    [
        "input.value",
        "db.password",
        "user.name",
        "embedding.embeddings.0.embedding.vector",
        "http.request.header.cookie",
        "note",
        "k",
    ]
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(KEYS, VALUES), max_size=5), min_size=1, max_size=6), st.text(max_size=20))
def test_prefilter_visits_every_span_that_changes(spans: list[list[tuple[str, Any]]], name: str) -> None:
    """The fast path (visit only flagged spans) gives byte-identical results to visiting all."""
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    for attributes in spans:
        span = scope_spans.spans.add()
        span.name = name
        for key, value in attributes:
            span.attributes.append(key_value(key, value))
    fast, slow = ExportTraceServiceRequest(), ExportTraceServiceRequest()
    fast.CopyFrom(request)
    slow.CopyFrom(request)
    for config in (
        RedactionConfig(),
        RedactionConfig(detectors="all", block_keys=["user.*"], drop_keys=["http.request.header.*"]),
    ):
        redactor = Redactor(config)
        truncator = Truncator(TruncationConfig(max_length=100, max_list_items=64))
        fast_outcome = transform_export_request(fast, redactor, truncator)
        slow_outcome = transform_export_request(slow, redactor, truncator, exhaustive=True)
        assert fast_outcome == slow_outcome
        assert fast.SerializeToString() == slow.SerializeToString()


def test_long_arrays_are_found_by_the_prefilter() -> None:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id = b"\x2a\x90" * 8  # id bytes that look like the start of a long array
    span.attributes.append(key_value("scores", [float(i) for i in range(300)]))
    span.attributes.append(key_value("few", [1, 2, 3]))
    outcome = transform_export_request(request, Redactor(), Truncator())
    assert outcome.truncated == 1
    assert len(span.attributes[0].value.array_value.values) == 256
    assert len(span.attributes[1].value.array_value.values) == 3


def test_glob_to_re2_matches_what_the_glob_matches() -> None:
    import fnmatch

    import re2

    from spanguard.processors.otlp_prefilter import glob_to_re2

    keys = [
        "llm.input_messages.3.message.content",
        "http.request.header.cookie",
        "a.b",
        "x[1]",
        "db.password",
    ]
    for glob in ["llm.input_messages.*.message.content", "http.*", "?.b", "x[[]1]", "db.pass*", "[!z]*"]:
        regex = re2.compile(glob_to_re2(glob))
        for key in keys:
            if fnmatch.fnmatchcase(key, glob):
                assert regex.search(key) is not None, (glob, key)


@pytest.mark.parametrize("exhaustive", [False, True], ids=["prefiltered", "exhaustive"])
def test_strings_inside_nested_arrays_and_lists_are_redacted(exhaustive: bool) -> None:
    """OTLP AnyValue nests: arrays of arrays, lists inside arrays. None may carry text out."""
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id = b"\x01" * 16
    span.span_id = b"\x02" * 8
    span.name = "nested"
    nested_value = [[EMAIL, [EMAIL]], {"inner": EMAIL, "deeper": [{"k": EMAIL}]}, 7]
    span.attributes.append(key_value("nested", nested_value))
    span.attributes.append(key_value("blocked.here", [["plain words"], {"k": "more words"}]))
    redactor = Redactor(RedactionConfig(block_keys=["blocked.*"]))

    outcome = transform_export_request(request, redactor, None, exhaustive=exhaustive)

    assert outcome.changed and outcome.changed_spans == frozenset({0})
    text = str(request)
    assert EMAIL not in text
    assert "plain words" not in text and "more words" not in text  # a blocked key masks every depth
    nested = _attributes(request.resource_spans[0].scope_spans[0].spans[0].attributes)["nested"]
    assert nested[2] == {"intValue": "7"}  # numbers untouched
    assert text.count("[REDACTED:email]") == 4


def test_the_prefilter_drops_capture_groups_but_matches_the_same_text() -> None:
    """Groups make RE2 run a second engine over every match; the prefilter only needs
    where a match is, so its copy of each pattern has none and finds the same spans."""
    import re2

    from spanguard.processors.detectors import BUILTIN_DETECTORS
    from spanguard.processors.otlp_prefilter import without_captures

    samples = [
        "mail jane.doe@example.com or call +1 415 555 0142",
        'password=hunter22 and {"api_key": "abc"} Authorization: Bearer abcdefghijklmnop',
        "https://user:pa55word@example.com/x 4111 1111 1111 1111 DE89370400440532013000",
        "x(y)[z] ] [^ ( ) plain text",
    ]
    tricky = [r"a(b|c)\(d\)[(]x", r"[]()](x)", r"[^]()](?:y)(z)"]  # escapes, brackets in classes
    patterns = [d.pattern for d in BUILTIN_DETECTORS.values()] + tricky
    for pattern in patterns:
        original, stripped = re2.compile(pattern), re2.compile(without_captures(pattern))
        assert stripped.groups == 0, pattern
        for text in [*samples, "a(b)(d)(x", "]x", "zy"]:
            assert [m.span() for m in original.finditer(text)] == [m.span() for m in stripped.finditer(text)]


def test_broadened_classes_only_gain_members() -> None:
    """The prefilter widens plain classes to whole blocks of digits and letters (fewer DFA
    states); every match of the written pattern must stay a match of the widened one."""
    import re2

    from spanguard.processors.detectors import BUILTIN_DETECTORS
    from spanguard.processors.otlp_prefilter import _WORD_BOUNDARY, broadened, without_captures

    assert broadened(r"[0-9a-f]{32}") == "[0-9a-z]{32}"
    assert broadened(r"[A-HJ-NP-Z1-9]") == "[0-9A-Z]"
    assert broadened(r"x[-+A-FU-Y]") == r"x[A-Z\+\-]"
    for kept in (r"[^a-f]", r"[ \t]", r"[\x80-\xFF]", r"[[:alpha:]]", r"[\d_]", "[é]"):
        assert broadened(kept) == kept  # negated, escaped, POSIX and non-ASCII: as written
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1
    samples = [
        "mail jane.doe@example.com or call +1 415 555 0142, 06 12 34 56 78, 0049 30 901820",
        'password=hunter22 and {"api_key": "abc"} Authorization: Bearer abcdefghijklmnop',
        "https://user:pa55word@example.com/x 4111 1111 1111 1111 DE89370400440532013000",
        "0x52908400098527886E0F7030069857D2E4169EE7 bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        "AB123456C RSSMRA85T10A562S ABCPE1234F S1234567D 123-45-6789 1HGCM82633A004352",
        "sk-proj-Abc123def456GHI789jkl012MNO345 ghp_abcdefghijklmnopqrstuvwxyz0123456789AB",
        "x(y)[z] ] [^ ( ) plain text with words and 12 numbers 300 63 390",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLWhlcmU /x?token=abcd1234",
        "10.0.0.1 2001:db8::ff00:42:8329 00:1A:2B:3C:4D:5E routing number 021000021 born 1990-04-01",
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----",
    ]
    checked: set[str] = set()
    for detector in BUILTIN_DETECTORS.values():
        relaxed = without_captures(_WORD_BOUNDARY.sub("", detector.pattern))
        written = re2.compile(relaxed.encode(), options)
        widened = re2.compile(broadened(relaxed).encode(), options)
        for text in samples:
            data = text.encode("latin-1", "replace")
            for match in written.finditer(data):
                assert widened.fullmatch(match.group(0)) is not None, (detector.name, match.group(0))
                checked.add(detector.name)
    assert len(checked) >= 16, sorted(checked)  # most detectors had a match to compare


@pytest.mark.parametrize(
    "layout",
    ["summary first, hit last", "hit first, summary last", "summary between hits"],
)
def test_an_earlier_hops_summary_is_found_wherever_it_sits(layout: str) -> None:
    """The sidecar learns whether a span already carries summary keys from the walk that
    narrows it to its hit attributes (keys read up to where the walk stops) and a search of
    the bytes after that. Wherever a relay put the earlier keys, each ends up once."""
    earlier = [key_value("spanguard.redacted.count", 1), key_value("spanguard.redacted.email", 1)]
    hit_first, hit_last = key_value("input.value", f"my key is {KEY}"), key_value("output.value", EMAIL)
    clean = [key_value(f"field.{n}", "nothing to see here") for n in range(3)]
    ordered = {
        "summary first, hit last": [*earlier, *clean, hit_last],
        "hit first, summary last": [hit_first, *clean, *earlier],
        "summary between hits": [hit_first, *earlier, *clean, hit_last],
    }[layout]
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.name = "op"
    span.attributes.extend(ordered)
    wire = request.SerializeToString()
    received = ExportTraceServiceRequest.FromString(wire)
    sidecar = Redactor(RedactionConfig(detectors=["email", "api_key"]))
    outcome = transform_export_request(received, sidecar, None, original=wire)
    assert outcome.changed_spans == frozenset({0})
    attributes = received.resource_spans[0].scope_spans[0].spans[0].attributes
    keys = [kv.key for kv in attributes]
    assert len(keys) == len(set(keys)), keys  # OTLP: each key once
    by_key = _attributes(attributes)
    found = sum(1 for kv in ordered if kv.key in ("input.value", "output.value"))
    assert by_key["spanguard.redacted.count"] == 1 + found
    assert KEY not in str(received) and EMAIL not in str(received)


@pytest.mark.parametrize("summary", ["info", "debug"])
@pytest.mark.parametrize("exhaustive", [False, True])
def test_second_hop_merges_the_summary_into_one_key_each(summary: str, exhaustive: bool) -> None:
    """Bug 3: the app redacts (emails), then the sidecar redacts more (API keys). OTLP forbids
    duplicate keys: the span carries each summary key once, counts added, key lists joined,
    as the Collector's redaction processor does."""
    span_request = ExportTraceServiceRequest()
    span = span_request.resource_spans.add().scope_spans.add().spans.add()
    span.name = "op"
    span.attributes.append(key_value("user.contact", EMAIL))
    span.attributes.append(key_value("input.value", f"my key is {KEY}"))
    span.attributes.append(key_value("clean", "nothing here"))
    app = Redactor(RedactionConfig(detectors=["email"], summary=summary))  # type: ignore[arg-type]
    sidecar = Redactor(RedactionConfig(detectors=["email", "api_key"], summary=summary))  # type: ignore[arg-type]
    first = transform_export_request(span_request, app, None, exhaustive=exhaustive)
    assert first.redacted == 1
    wire = span_request.SerializeToString()  # what the app exports, as the sidecar receives it
    received = ExportTraceServiceRequest.FromString(wire)
    second = transform_export_request(received, sidecar, None, exhaustive=exhaustive, original=wire)
    assert second.redacted == 1 and second.changed_spans == frozenset({0})
    attributes = received.resource_spans[0].scope_spans[0].spans[0].attributes
    keys = [kv.key for kv in attributes]
    summary_keys = [key for key in keys if key.startswith("spanguard.")]
    assert len(summary_keys) == len(set(summary_keys)), summary_keys  # each summary key once
    by_key = _attributes(attributes)
    assert by_key["spanguard.redacted.count"] == 2
    if summary == "debug":
        assert [item["stringValue"] for item in by_key["spanguard.redacted.keys"]] == [
            "input.value",
            "user.contact",
        ]
    else:
        assert "spanguard.redacted.keys" not in by_key
    assert EMAIL not in str(received) and KEY not in str(received)
    # a third hop that finds nothing leaves the merged summary as it is
    again = transform_export_request(received, sidecar, None, exhaustive=exhaustive)
    assert not again.changed
    assert _attributes(received.resource_spans[0].scope_spans[0].spans[0].attributes) == by_key
