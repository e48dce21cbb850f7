"""spanguard.processors: the redaction and truncation engine and its two adapters.

- `redaction.Redactor`, `truncation.Truncator`: plain values in, changes out, in batches.
  Their parts: `tokens` (markers, pseudonyms), `json_values` (rules and scans inside
  JSON), `json_truncation`, `numbers` (integer card numbers), `sql`, `hide`
  (OpenInference presets), `summary` (summary attributes).
- `engine.Engine` (and `NoopEngine`): the one redact -> truncate step, counted in `Counts`.
- `span_processors.SpanguardSpanProcessor`: the SDK adapter.
- `otlp_adapter.apply_to_request`: the OTLP protobuf adapter (the sidecar's).
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from spanguard.processors.changes import DROPPED, Change
from spanguard.processors.detectors import BUILTIN_DETECTORS, Detector
from spanguard.processors.engine import Counts, Engine, NoopEngine
from spanguard.processors.otlp_adapter import RequestCounts, apply_to_request, transform_export_request
from spanguard.processors.redaction import Redactor
from spanguard.processors.span_processors import SpanguardSpanProcessor, SpanguardStats
from spanguard.processors.truncation import Truncator

__all__ = [
    "BUILTIN_DETECTORS",
    "DROPPED",
    "Change",
    "Counts",
    "Detector",
    "Engine",
    "NoopEngine",
    "Redactor",
    "RequestCounts",
    "SpanguardSpanProcessor",
    "SpanguardStats",
    "Truncator",
    "apply_to_request",
    "transform_export_request",
]

# old name -> (module, name there); kept for one release, with a DeprecationWarning
_DEPRECATED = {
    "ProcessorStats": ("spanguard.processors.span_processors", "ProcessorStats"),
    "RedactingSpanProcessor": ("spanguard.processors.span_processors", "RedactingSpanProcessor"),
    "TruncatingSpanProcessor": ("spanguard.processors.span_processors", "TruncatingSpanProcessor"),
    "RequestOutcome": ("spanguard.processors.otlp_adapter", "RequestOutcome"),
}


def __getattr__(name: str) -> Any:
    moved = _DEPRECATED.get(name)
    if moved is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(f"spanguard.processors.{name} is deprecated", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(moved[0]), moved[1])
