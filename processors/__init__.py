"""spanguard.processors: the redaction and truncation engine and its two adapters.

- `redaction.Redactor`, `truncation.Truncator`: plain values in, changes out, in batches.
  Their parts: `tokens` (markers, pseudonyms), `json_values` (rules and scans inside
  JSON), `json_truncation`, `numbers` (integer card numbers), `sql`, `hide`
  (OpenInference presets), `summary` (summary attributes).
- `span_processors.RedactingSpanProcessor`, `TruncatingSpanProcessor`: the SDK adapter.
- `otlp_adapter.transform_export_request`: the OTLP protobuf adapter (the sidecar's).
"""

from __future__ import annotations

from spanguard.processors.changes import DROPPED, Change
from spanguard.processors.detectors import BUILTIN_DETECTORS, Detector
from spanguard.processors.otlp_adapter import RequestOutcome, transform_export_request
from spanguard.processors.redaction import Redactor
from spanguard.processors.span_processors import (
    ProcessorStats,
    RedactingSpanProcessor,
    TruncatingSpanProcessor,
)
from spanguard.processors.truncation import Truncator

__all__ = [
    "BUILTIN_DETECTORS",
    "DROPPED",
    "Change",
    "Detector",
    "ProcessorStats",
    "RedactingSpanProcessor",
    "Redactor",
    "RequestOutcome",
    "TruncatingSpanProcessor",
    "Truncator",
    "transform_export_request",
]
