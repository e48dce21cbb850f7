"""The two switches, and why neither lets raw data out because of an environment variable.

- `SPANGUARD_ENABLED=false` turns tracing export OFF: spanguard exports nothing at all
  (the meaning of the `PHOENIX_AUTO_SETUP=false` switch apps already have). Every
  front door honours it: `build_span_processor` returns a processor that discards,
  `guard(provider)` makes the provider discard every span before any of its processors
  sees it, and the zero-code distro does the same to every `OTEL_TRACES_EXPORTER`.
- Redaction can be turned off only in the config file, explicitly
  (`redaction: {enabled: false}`, a literal the loader refuses to take from `${VAR}`),
  and a warning says so at start. An environment variable can never be the way
  unredacted spans start flowing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace import Span as SdkSpan

if TYPE_CHECKING:
    from spanguard.processors.span_processors import SpanguardStats

ENABLED_ENV_VAR = "SPANGUARD_ENABLED"
_FALSE_VALUES = frozenset({"false", "0", "no", "off"})

_log = logging.getLogger("spanguard")


def export_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """False only when `SPANGUARD_ENABLED` says so (`false`, `0`, `no`, `off`)."""
    value = (os.environ if environ is None else environ).get(ENABLED_ENV_VAR, "")
    return value.strip().lower() not in _FALSE_VALUES


def warn_export_off() -> None:
    _log.warning("spanguard: %s=false: tracing export is off, no span leaves this process", ENABLED_ENV_VAR)


def warn_redaction_off() -> None:
    _log.warning(
        "spanguard: redaction is disabled in the config file (redaction.enabled: false): "
        "spans are exported WITHOUT redaction"
    )


class DiscardingSpanProcessor(SpanProcessor):
    """Exports nothing: what every front door becomes when tracing export is off."""

    def __init__(self) -> None:
        self.discarded = 0

    def on_start(self, span: SdkSpan, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        self.discarded += 1  # a lost increment under a race only miscounts, never leaks

    @property
    def stats(self) -> SpanguardStats:
        """Every span counted as seen and dropped, as the engine processor counts."""
        from spanguard.processors.span_processors import SpanguardStats

        return SpanguardStats(spans=self.discarded, dropped=self.discarded)

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
