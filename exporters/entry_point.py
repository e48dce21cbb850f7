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
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from spanguard.config.model import SpanguardConfig
from spanguard.errors import SpanguardError

_log = logging.getLogger("spanguard")


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
