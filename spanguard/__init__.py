"""spanguard: redact and truncate LLM trace data before it leaves the process.

The public API is what `__all__` lists; everything else is internal and may change.
Names are imported on first use (`__getattr__`), so `import spanguard` costs next to
nothing and `spanguard.guard` loads only the config and the engines, not the
exporters' encoders or the sidecar's OTLP adapter. The reference pipeline
(`spanguard.pipeline`) is never imported here: it would load LiteLLM and Chroma.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spanguard.api import build_span_processor, fanout_of
    from spanguard.config import load_config
    from spanguard.config.model import SpanguardConfig
    from spanguard.errors import ConfigError, SpanguardError
    from spanguard.exporters.entry_point import SpanguardSpanExporter
    from spanguard.exporters.factory import build_exporters
    from spanguard.exporters.fanout import ExporterStats, FanOutSpanProcessor
    from spanguard.guarding import GuardHandle, guard
    from spanguard.processors.otlp_adapter import RequestOutcome, transform_export_request
    from spanguard.processors.redaction import Redactor
    from spanguard.processors.span_processors import RedactingSpanProcessor, TruncatingSpanProcessor
    from spanguard.processors.truncation import Truncator

# public name -> the module that defines it
_WHERE = {
    "ConfigError": "spanguard.errors",
    "ExporterStats": "spanguard.exporters.fanout",
    "FanOutSpanProcessor": "spanguard.exporters.fanout",
    "GuardHandle": "spanguard.guarding",
    "RedactingSpanProcessor": "spanguard.processors.span_processors",
    "Redactor": "spanguard.processors.redaction",
    "RequestOutcome": "spanguard.processors.otlp_adapter",
    "SpanguardConfig": "spanguard.config.model",
    "SpanguardError": "spanguard.errors",
    "SpanguardSpanExporter": "spanguard.exporters.entry_point",
    "TruncatingSpanProcessor": "spanguard.processors.span_processors",
    "Truncator": "spanguard.processors.truncation",
    "build_exporters": "spanguard.exporters.factory",
    "build_span_processor": "spanguard.api",
    "fanout_of": "spanguard.api",
    "guard": "spanguard.guarding",
    "load_config": "spanguard.config",
    "transform_export_request": "spanguard.processors.otlp_adapter",
}

__all__ = [
    "ConfigError",
    "ExporterStats",
    "FanOutSpanProcessor",
    "GuardHandle",
    "RedactingSpanProcessor",
    "Redactor",
    "RequestOutcome",
    "SpanguardConfig",
    "SpanguardError",
    "SpanguardSpanExporter",
    "TruncatingSpanProcessor",
    "Truncator",
    "build_exporters",
    "build_span_processor",
    "fanout_of",
    "guard",
    "load_config",
    "transform_export_request",
]


assert set(__all__) == set(_WHERE)  # one list of the public names, checked at import


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'spanguard' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # next time, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
