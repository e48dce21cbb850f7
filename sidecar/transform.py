"""The sidecar's use of the shared engine: redact and truncate a request in place.

One engine, two adapters: the same `Redactor` and `Truncator` the in-process span
processors use are applied here to protobuf messages by the engine's OTLP adapter, so
one YAML file means the same thing in both front doors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from spanguard.sidecar.wire_split import splice_spans

from spanguard.config.model import RedactionConfig, TruncationConfig
from spanguard.errors import SpanguardError


@dataclass(frozen=True, slots=True)
class TransformCounts:
    changed: bool
    spans: int
    redacted: int = 0
    truncated: int = 0
    dropped: int = 0
    failed: int = 0
    changed_spans: frozenset[int] = frozenset()  # span indexes in request order
    changed_other: bool = False  # a resource or scope changed


class RequestTransformer:
    """Applies the configured redaction and truncation to one request at a time."""

    def __init__(self, redaction: RedactionConfig, truncation: TruncationConfig) -> None:
        self._transform: Any = None
        self._redactor: Any = None
        self._truncator: Any = None
        if not (redaction.enabled or truncation.enabled):
            return  # both off: requests pass as they came, no engine needed
        try:
            from spanguard.processors.otlp_adapter import transform_export_request
            from spanguard.processors.redaction import Redactor
            from spanguard.processors.truncation import Truncator
        except ImportError as exc:
            # Fail closed: never forward unredacted spans because the engine is missing.
            raise SpanguardError(f"the redaction engine cannot be loaded ({exc.name})") from exc
        self._transform = transform_export_request
        self._redactor = Redactor(redaction) if redaction.enabled else None
        self._truncator = Truncator(truncation) if truncation.enabled else None

    def apply(self, request: ExportTraceServiceRequest, original: bytes | None = None) -> TransformCounts:
        """`original`: the bytes `request` was parsed from, when the client sent protobuf."""
        if self._transform is None:
            return TransformCounts(changed=False, spans=count_spans(request))
        outcome = self._transform(request, self._redactor, self._truncator, original=original)
        return TransformCounts(
            changed=bool(outcome.changed),
            spans=int(outcome.spans),
            redacted=int(outcome.redacted),
            truncated=int(outcome.truncated),
            dropped=int(outcome.dropped),
            failed=int(outcome.failed),
            changed_spans=frozenset(outcome.changed_spans),
            changed_other=bool(outcome.changed_other),
        )


def count_spans(request: ExportTraceServiceRequest) -> int:
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


def encode_request(
    request: ExportTraceServiceRequest, original: bytes | None, counts: TransformCounts
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
