"""spanguard: redact and truncate LLM trace data before it leaves the process.

The public API is what `__all__` lists; everything else is internal and may change.
The reference pipeline (`spanguard.pipeline`) is deliberately not imported here: it
would make `import spanguard` load LiteLLM and Chroma.
"""

from __future__ import annotations

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
