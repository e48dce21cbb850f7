"""The sidecar's use of the shared engine: redact and truncate a request in place.

One engine, two adapters: the same `Redactor` and `Truncator` the in-process span
processors use are applied here to protobuf messages by the engine's OTLP adapter, so
one YAML file means the same thing in both front doors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spanguard.config_model import RedactionConfig, TruncationConfig
from spanguard.errors import SpanguardError


@dataclass(frozen=True, slots=True)
class TransformCounts:
    changed: bool
    spans: int
    redacted: int = 0
    truncated: int = 0
    dropped: int = 0
    failed: int = 0


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

    def apply(self, request: ExportTraceServiceRequest) -> TransformCounts:
        if self._transform is None:
            return TransformCounts(changed=False, spans=count_spans(request))
        outcome = self._transform(request, self._redactor, self._truncator)
        return TransformCounts(
            changed=bool(outcome.changed),
            spans=int(outcome.spans),
            redacted=int(outcome.redacted),
            truncated=int(outcome.truncated),
            dropped=int(outcome.dropped),
            failed=int(outcome.failed),
        )


def count_spans(request: ExportTraceServiceRequest) -> int:
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
