"""`build_span_processor`: the one call that puts spanguard into any TracerProvider.

The chain is redact -> truncate -> fan-out (one queue and worker per exporter), in that
order so a secret cut in half by truncation has already been caught whole. Each stage
is an SDK `SpanProcessor` wrapping the next, so the chain is itself a processor:
`provider.add_span_processor(build_span_processor())` is all an app needs.

`SPANGUARD_ENABLED=false` leaves out redaction and truncation (spans go to the
exporters as they are, at no scanning cost). It is meant for debugging on a laptop;
production should leave it unset.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter

from spanguard.config.model import SpanguardConfig

if TYPE_CHECKING:
    from spanguard.exporters.fanout import FanOutSpanProcessor

ENABLED_ENV_VAR = "SPANGUARD_ENABLED"
_FALSE_VALUES = frozenset({"false", "0", "no", "off"})

_log = logging.getLogger("spanguard")


def spanguard_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """False only when `SPANGUARD_ENABLED` says so (`false`, `0`, `no`, `off`)."""
    value = (os.environ if environ is None else environ).get(ENABLED_ENV_VAR, "")
    return value.strip().lower() not in _FALSE_VALUES


def _named_exporters(
    exporters: Sequence[SpanExporter] | Mapping[str, SpanExporter],
) -> dict[str, SpanExporter]:
    if isinstance(exporters, Mapping):
        return dict(exporters)
    named: dict[str, SpanExporter] = {}
    for exporter in exporters:
        base = type(exporter).__name__
        name, suffix = base, 2
        while name in named:
            name, suffix = f"{base}-{suffix}", suffix + 1
        named[name] = exporter
    return named


def build_span_processor(
    config: SpanguardConfig | None = None,
    *,
    exporters: Sequence[SpanExporter] | Mapping[str, SpanExporter] | None = None,
    synchronous: bool = False,
) -> SpanProcessor:
    """Redacting -> Truncating -> FanOut over the configured (or given) exporters.

    `synchronous=True` ends the chain in the SDK's `SimpleSpanProcessor` per exporter
    instead of the queued fan-out, so a span is exported before `end()` returns. That is
    what an in-memory exporter read right after a span needs (notebooks, tests); never
    use it with a network exporter inside a server, where it would stall every request.

    `config=None` loads it the usual way (`$SPANGUARD_CONFIG`, `./spanguard.yaml`,
    defaults). `exporters=` replaces the configured exporters (custom sinks, tests).
    Raises `ConfigError` for a config that cannot work (bad pattern, unwritable file).
    """
    from spanguard.exporters.factory import build_exporters
    from spanguard.exporters.fanout import FanOutSpanProcessor

    if config is None:
        from spanguard.config import load_config

        config = load_config(None)
    enabled = spanguard_enabled()
    redactor = truncator = None
    if enabled:
        # Build the engine first: a bad pattern must fail before files are opened.
        if config.redaction.enabled:
            from spanguard.processors.redaction import Redactor

            redactor = Redactor(config.redaction)
        if config.truncation.enabled:
            from spanguard.processors.truncation import Truncator

            truncator = Truncator(config.truncation)
    named = build_exporters(config.exporters) if exporters is None else _named_exporters(exporters)
    processor: SpanProcessor
    if synchronous:
        processor = _synchronous_processor(named)
    else:
        processor = FanOutSpanProcessor(named, config.exporters.batch)
    if not enabled:
        _log.warning(
            "spanguard: %s=false: spans are exported WITHOUT redaction or truncation", ENABLED_ENV_VAR
        )
        return processor
    from spanguard.processors.span_processors import RedactingSpanProcessor, TruncatingSpanProcessor

    if truncator is not None:
        processor = TruncatingSpanProcessor(processor, truncator)
    if redactor is not None:
        processor = RedactingSpanProcessor(processor, redactor)
    return processor


def _synchronous_processor(named: Mapping[str, SpanExporter]) -> SpanProcessor:
    from opentelemetry.sdk.trace import SynchronousMultiSpanProcessor
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    processors = [SimpleSpanProcessor(exporter) for exporter in named.values()]
    if len(processors) == 1:
        return processors[0]
    multi = SynchronousMultiSpanProcessor()
    for each in processors:
        multi.add_span_processor(each)
    return multi


def fanout_of(processor: SpanProcessor) -> FanOutSpanProcessor | None:
    """The fan-out at the end of a chain from `build_span_processor` (for its `.stats`)."""
    from spanguard.exporters.fanout import FanOutSpanProcessor

    current: object = processor
    for _ in range(8):  # the chain is short; never loop on a cycle
        if isinstance(current, FanOutSpanProcessor):
            return current
        current = getattr(current, "next_processor", None)
        if current is None:
            return None
    return None
