"""OTLP/JSON request bodies as the OpenTelemetry Collector reads them.

The file exporter's reader (`exporters.otlp_json`) reads lines this project wrote; a
receiver meets every client, so it follows the OTLP/HTTP JSON rules and the Collector:

- unknown fields are ignored (the spec: receivers must ignore them, for forward
  compatibility), unknown enum values too;
- ids are hex under both key spellings, `traceId` and `trace_id` (the protobuf JSON
  mapping would read a snake_case key as base64 and silently corrupt the id);
- an id of the wrong length refuses the whole request (400), as the Collector does;
  an empty id is allowed (no parent).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

# id field -> its length in bytes, under both spellings the Collector accepts
_SPAN_IDS = {"traceId": 16, "trace_id": 16, "spanId": 8, "span_id": 8, "parentSpanId": 8, "parent_span_id": 8}
_LINK_IDS = {"traceId": 16, "trace_id": 16, "spanId": 8, "span_id": 8}


class BadJson(ValueError):
    """The body is not an OTLP/JSON request; the message names the shape, never content."""


def _id_to_b64(value: Any, size: int) -> str:
    if not isinstance(value, str):
        raise BadJson("trace/span id is not a string")
    if value == "":
        return ""
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise BadJson("trace/span id is not hex") from None
    if len(raw) != size:
        raise BadJson(f"trace/span id must be {size} bytes, got {len(raw)}")
    return base64.b64encode(raw).decode("ascii")


def _convert(obj: Any, keys: dict[str, int]) -> None:
    if isinstance(obj, dict):
        for key, size in keys.items():
            if key in obj:
                obj[key] = _id_to_b64(obj[key], size)


def _items(obj: Any, *keys: str) -> list[Any]:
    """The list under the first of `keys` present in `obj` (camelCase or snake_case)."""
    if not isinstance(obj, dict):
        return []
    for key in keys:
        value = obj.get(key)
        if isinstance(value, list):
            return value
    return []


def decode_request_json(body: bytes) -> ExportTraceServiceRequest:
    try:
        as_dict = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise BadJson(f"not JSON ({type(exc).__name__})") from None
    if not isinstance(as_dict, dict):
        raise BadJson("not an OTLP JSON object")
    for rs in _items(as_dict, "resourceSpans", "resource_spans"):
        for ss in _items(rs, "scopeSpans", "scope_spans"):
            for span in _items(ss, "spans"):
                _convert(span, _SPAN_IDS)
                for link in _items(span, "links"):
                    _convert(link, _LINK_IDS)
    request = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(as_dict, request, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, AttributeError, ValueError, RecursionError) as exc:
        raise BadJson(f"not an OTLP ExportTraceServiceRequest ({type(exc).__name__})") from None
    return request
