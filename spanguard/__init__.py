"""spanguard: redact and truncate LLM trace data before it leaves the process.

The public API is what `__all__` lists; everything else is internal and may change.
"""

from __future__ import annotations

from spanguard.config_model import SpanguardConfig
from spanguard.errors import ConfigError, SpanguardError

__all__ = [
    "ConfigError",
    "SpanguardConfig",
    "SpanguardError",
]
