"""Zero-code use: `OTEL_TRACES_EXPORTER=spanguard opentelemetry-instrument python app.py`.

The SDK's auto-configuration looks the name up in the `opentelemetry_traces_exporter`
entry points, instantiates the class with no arguments and wraps it in its own
`BatchSpanProcessor`. An exporter sits *after* every processor, so this exporter
carries spanguard's whole processor inside it: each span it receives goes through
redaction, truncation and the fan-out to the exporters `SPANGUARD_CONFIG` names
(the SDK batch queue in front just hands spans over in bulk, off the app thread).

A config that cannot be loaded must not crash the app at import time, and must not let
unredacted spans out either: the error is logged once and spans are dropped (fail
closed) until the config is fixed.

`OTEL_TRACES_EXPORTER=spanguard,otlp`: the SDK puts each exporter behind its own
processor, so the `otlp` one would export raw spans. The SDK sets the global provider
before it builds the exporters, so this exporter, built by it, guards that provider
(`spanguard.guard`): every processor of it, `otlp` included, gets cleaned spans (and
on a config error, none at all). The distro (`spanguard.zero_code`) does the same for
any `OTEL_TRACES_EXPORTER`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from spanguard.config.model import SpanguardConfig
from spanguard.errors import SpanguardError

_log = logging.getLogger("spanguard")


def _beside_other_exporters() -> bool:
    names = [name.strip() for name in os.environ.get("OTEL_TRACES_EXPORTER", "").split(",") if name.strip()]
    return "spanguard" in names and any(name not in ("spanguard", "none") for name in names)


def guard_neighbours(*, failed: bool) -> None:
    """Guard the global SDK provider this exporter is being added to (see the module doc)."""
    from opentelemetry import trace

    from spanguard.guarding import guard_discarding
    from spanguard.zero_code import guard_global_provider

    provider = trace.get_tracer_provider()
    if not hasattr(provider, "_active_span_processor"):
        _log.error(
            "spanguard: OTEL_TRACES_EXPORTER names other exporters but no SDK provider is set; "
            "use OTEL_PYTHON_DISTRO=spanguard with opentelemetry-instrument"
        )
        return
    if failed:
        guard_discarding(provider)
    else:
        guard_global_provider()


class SpanguardSpanExporter(SpanExporter):
    """An SDK exporter that is spanguard's processor (redact -> truncate -> fan-out)."""

    def __init__(self, config: SpanguardConfig | None = None, **_sdk_args: object) -> None:
        from spanguard.api import build_span_processor

        self.error: str | None = None
        self.chain: SpanProcessor | None = None
        try:
            self.chain = build_span_processor(config)
        except SpanguardError as exc:
            self.error = str(exc)
            _log.error("spanguard: cannot start, every span will be dropped until this is fixed: %s", exc)
        if _beside_other_exporters():
            guard_neighbours(failed=self.error is not None)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.chain is None:
            return SpanExportResult.FAILURE
        for span in spans:
            self.chain.on_end(span)
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.chain.force_flush(timeout_millis) if self.chain is not None else True

    def shutdown(self) -> None:
        if self.chain is not None:
            self.chain.shutdown()
