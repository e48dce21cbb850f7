"""spanguard: redact and truncate LLM trace data before it leaves the process.

The public API is what `__all__` lists; everything else is internal and may change.
Names are imported on first use (`__getattr__`), so `import spanguard` costs next to
nothing and `spanguard.guard` loads only the config and the engine, not the
exporters' encoders or the sidecar's OTLP adapter. The reference pipeline
(`spanguard.pipeline`) is never imported here: it would load LiteLLM and Chroma.

Names that left `__all__` in the engine refactor (the chained pair of processors,
`fanout_of`, `RequestOutcome`, ...) still import from here for one release, with a
`DeprecationWarning` that names the replacement.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spanguard.api import build_span_processor
    from spanguard.config import load_config
    from spanguard.config.model import SpanguardConfig
    from spanguard.errors import ConfigError, SpanguardError
    from spanguard.exporters.entry_point import SpanguardSpanExporter
    from spanguard.exporters.factory import build_exporters
    from spanguard.exporters.fanout import ExporterStats
    from spanguard.guarding import GuardHandle, guard
    from spanguard.processors.engine import Counts, Engine, NoopEngine
    from spanguard.processors.redaction import Redactor
    from spanguard.processors.span_processors import SpanguardSpanProcessor, SpanguardStats
    from spanguard.processors.truncation import Truncator

# public name -> the module that defines it
_WHERE = {
    "ConfigError": "spanguard.errors",
    "Counts": "spanguard.processors.engine",
    "Engine": "spanguard.processors.engine",
    "ExporterStats": "spanguard.exporters.fanout",
    "GuardHandle": "spanguard.guarding",
    "NoopEngine": "spanguard.processors.engine",
    "Redactor": "spanguard.processors.redaction",
    "SpanguardConfig": "spanguard.config.model",
    "SpanguardError": "spanguard.errors",
    "SpanguardSpanExporter": "spanguard.exporters.entry_point",
    "SpanguardSpanProcessor": "spanguard.processors.span_processors",
    "SpanguardStats": "spanguard.processors.span_processors",
    "Truncator": "spanguard.processors.truncation",
    "build_exporters": "spanguard.exporters.factory",
    "build_span_processor": "spanguard.api",
    "guard": "spanguard.guarding",
    "load_config": "spanguard.config",
}

__all__ = [
    "ConfigError",
    "Counts",
    "Engine",
    "ExporterStats",
    "GuardHandle",
    "NoopEngine",
    "Redactor",
    "SpanguardConfig",
    "SpanguardError",
    "SpanguardSpanExporter",
    "SpanguardSpanProcessor",
    "SpanguardStats",
    "Truncator",
    "build_exporters",
    "build_span_processor",
    "guard",
    "load_config",
]

assert set(__all__) == set(_WHERE)  # one list of the public names, checked at import

# old public name -> (module, name there, what to use instead); one release long
_DEPRECATED = {
    "FanOutSpanProcessor": ("spanguard.exporters.fanout", "FanOutSpanProcessor", "build_span_processor"),
    "RedactingSpanProcessor": (
        "spanguard.processors.span_processors",
        "RedactingSpanProcessor",
        "SpanguardSpanProcessor",
    ),
    "TruncatingSpanProcessor": (
        "spanguard.processors.span_processors",
        "TruncatingSpanProcessor",
        "SpanguardSpanProcessor",
    ),
    "RequestOutcome": ("spanguard.processors.otlp_adapter", "RequestCounts", "Counts"),
    "transform_export_request": ("spanguard.processors.otlp_adapter", "transform_export_request", "Engine"),
    "fanout_of": ("spanguard.api", "fanout_of", "build_span_processor(...).stats.exporters"),
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # next time, a plain attribute
        return value
    moved = _DEPRECATED.get(name)
    if moved is None:
        raise AttributeError(f"module 'spanguard' has no attribute {name!r}")
    module, attribute, instead = moved
    warnings.warn(
        f"spanguard.{name} is deprecated and leaves in the next release; use {instead}",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(module), attribute)  # not cached: warns each time


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
