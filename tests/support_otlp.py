"""Builders for OTLP AnyValue/KeyValue messages from plain Python values, shared by the
adapter tests: dicts become key/value lists, other sequences arrays (empty ones too);
and the check that the sidecar's prefiltered path equals visiting every span."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from spanguard.processors.otlp_adapter import transform_export_request
from spanguard.processors.redaction import Redactor
from spanguard.processors.truncation import Truncator


def key_value(key: str, value: Any) -> KeyValue:
    kv = KeyValue(key=key)
    set_any_value(kv.value, value)
    return kv


def set_any_value(target: AnyValue, value: Any) -> None:
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, bytes):
        target.bytes_value = value
    elif isinstance(value, dict):
        target.kvlist_value.SetInParent()
        for key, item in value.items():
            target.kvlist_value.values.append(key_value(key, item))
    else:
        target.array_value.SetInParent()
        for item in value:
            set_any_value(target.array_value.values.add(), item)


def prefiltered_as_exhaustive(
    request: ExportTraceServiceRequest,
    redactor: Redactor | None,
    truncator: Truncator | None = None,
    *,
    original: bytes | None = None,
) -> ExportTraceServiceRequest:
    """Run the engine step on two copies of `request`, prefiltered (scanning `original`,
    the bytes `request` came from, if given) and visiting every span, assert both give
    the same counts and bytes, and return the prefiltered copy."""
    fast, slow = ExportTraceServiceRequest(), ExportTraceServiceRequest()
    fast.CopyFrom(request)
    slow.CopyFrom(request)
    counts = transform_export_request(fast, redactor, truncator, original=original)
    assert counts == transform_export_request(slow, redactor, truncator, exhaustive=True)
    assert fast.SerializeToString() == slow.SerializeToString()
    return fast
