"""OTLP JSON encoding, one line per message, as the OTLP file-exporter specification asks.

Why not plain `json_format.MessageToJson`: the OTLP JSON mapping differs from the
protobuf JSON mapping in one place that matters. Trace and span ids are hex strings in
OTLP JSON (the Collector's `otlpjsonfile` receiver and every OTLP/JSON backend expect
hex), while the protobuf mapping writes bytes as base64. Everything else is the stock
mapping: lowerCamelCase keys, enums as integers, 64-bit integers as strings, default
values left out.

Reading back: `decode_traces_json_line` turns the hex ids into the protobuf mapping's
base64 and hands the rest to `json_format.ParseDict`, so a line written here comes back
as the same `TracesData` the protobuf library would build.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

# Keys of the span and link objects that hold ids (bytes fields in the proto).
_SPAN_ID_KEYS = ("traceId", "spanId", "parentSpanId")
_LINK_ID_KEYS = ("traceId", "spanId")


def _b64_to_hex(value: str) -> str:
    return base64.b64decode(value).hex()


def _hex_to_b64(value: str) -> str:
    try:
        raw = bytes.fromhex(value)
    except ValueError as exc:
        # Never echo the value: ids are not secret, but the rule is simple to keep.
        raise ValueError("trace/span id is not a hex string") from exc
    return base64.b64encode(raw).decode("ascii")


def _convert_ids(traces: dict[str, Any], convert: Callable[[str], str]) -> None:
    for resource_spans in traces.get("resourceSpans", ()):
        for scope_spans in resource_spans.get("scopeSpans", ()):
            for span in scope_spans.get("spans", ()):
                for key in _SPAN_ID_KEYS:
                    if key in span:
                        span[key] = convert(span[key])
                for link in span.get("links", ()):
                    for key in _LINK_ID_KEYS:
                        if key in link:
                            link[key] = convert(link[key])


def traces_to_otlp_dict(message: ExportTraceServiceRequest | TracesData) -> dict[str, Any]:
    """The OTLP JSON object for one message (both message types share `resourceSpans`).

    (A hand-written walk over `ListFields` was tried: with upb it is no faster than
    `MessageToDict`, so the stock mapping is used.)
    """
    as_dict: dict[str, Any] = json_format.MessageToDict(message, use_integers_for_enums=True)
    _convert_ids(as_dict, _b64_to_hex)
    return as_dict


def encode_traces_json_line(message: ExportTraceServiceRequest | TracesData) -> str:
    """One OTLP JSON line (no trailing newline): a `TracesData` object, compact, UTF-8 safe.

    `ensure_ascii=False` keeps non-ASCII text readable and the line short; the caller
    writes it as UTF-8. JSON escapes newlines inside strings, so the result never
    contains a raw newline and one message is always exactly one line.
    """
    return json.dumps(traces_to_otlp_dict(message), ensure_ascii=False, separators=(",", ":"))


def decode_traces_json_line(line: str | bytes) -> TracesData:
    """Parse one OTLP JSON line back into `TracesData`; raises `ValueError` on a bad line.

    The error message says what is wrong with the line's shape, never its content.
    """
    try:
        as_dict = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = getattr(exc, "pos", "?")
        raise ValueError(f"not a JSON line ({type(exc).__name__} at position {where})") from exc
    if not isinstance(as_dict, dict):
        raise ValueError("not an OTLP JSON object")
    try:
        _convert_ids(as_dict, _hex_to_b64)
        traces = TracesData()
        json_format.ParseDict(as_dict, traces)
    except (json_format.ParseError, TypeError, AttributeError, binascii.Error) as exc:
        raise ValueError(f"not OTLP TracesData JSON ({type(exc).__name__})") from exc
    return traces
