"""The sidecar's use of the shared engine: redact and truncate a request in place.

One engine, two adapters: the same `Redactor` and `Truncator` the in-process span
processors use are applied here to protobuf messages by the engine's OTLP adapter, so
one YAML file means the same thing in both front doors.
"""

from __future__ import annotations

import warnings
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spanguard.config.model import RedactionConfig, TruncationConfig
from spanguard.processors.engine import AnyEngine, Engine
from spanguard.processors.otlp_adapter import RequestCounts, apply_to_request
from spanguard.sidecar.wire_split import splice_spans


class RequestTransformer:
    """Applies the configured redaction and truncation to one request at a time.

    With both off the engine is a `NoopEngine`: requests pass as they came. A bad
    pattern raises `ConfigError` here, when the sidecar starts."""

    def __init__(self, redaction: RedactionConfig, truncation: TruncationConfig) -> None:
        self.engine: AnyEngine = Engine.from_config(redaction, truncation)

    def apply(self, request: ExportTraceServiceRequest, original: bytes | None = None) -> RequestCounts:
        """`original`: the bytes `request` was parsed from, when the client sent protobuf."""
        return apply_to_request(request, self.engine, original=original)


def count_spans(request: ExportTraceServiceRequest) -> int:
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


def encode_request(
    request: ExportTraceServiceRequest, original: bytes | None, counts: RequestCounts
) -> list[bytes | memoryview]:
    """The bytes to queue for a transformed `request` that arrived as `original`, as
    buffers to write back to back (at most `MAX_PARTS`, so one `writev` takes them).

    Unchanged: the client's bytes. Only spans changed: the client's bytes with those spans
    re-encoded and spliced in (re-serializing all of a 6 MB request costs more than the
    redaction that touched a quarter of it). Anything else, or a splice that does not add
    up: the whole message re-serialized.
    """
    if original is not None and not counts.changed:
        return [original]
    if original is None or counts.changed_other or not counts.changed_spans:
        return [request.SerializeToString()]
    wanted = counts.changed_spans
    replacements: dict[int, bytes] = {}
    index = 0
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            spans = scope_spans.spans
            for offset in range(len(spans)):
                if index + offset in wanted:
                    replacements[index + offset] = spans[offset].SerializeToString()
            index += len(spans)
    spliced = splice_spans(original, replacements, index) if len(replacements) == len(wanted) else None
    if spliced is None:
        return [request.SerializeToString()]
    return spliced if len(spliced) <= MAX_PARTS else [b"".join(spliced)]


# writev takes at most IOV_MAX (1024 on Linux) buffers; the queue adds its own headers
MAX_PARTS = 512


def __getattr__(name: str) -> Any:
    if name == "TransformCounts":  # one counter type now: `RequestCounts`, a `Counts`
        warnings.warn("TransformCounts is deprecated; use RequestCounts", DeprecationWarning, stacklevel=2)
        return RequestCounts
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
