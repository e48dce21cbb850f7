"""`build_span_processor`: spanguard's own chain with its own exporters, as one processor.

The processor is one `SpanguardSpanProcessor`: the engine (resource/scope scan,
redact, then truncate, so a secret cut in half by truncation has already been caught
whole) in front of the fan-out (one queue and worker per exporter).
`provider.add_span_processor(build_span_processor())` is all an app with a plain
`TracerProvider` needs; its `.stats` says what redaction, truncation and each exporter
did. A provider that already has its own exporting processors
(`phoenix.otel.register`) wants `spanguard.guard(provider)` instead.

With no `exporters:` in the config, spans go where the standard variables say
(`OTEL_EXPORTER_OTLP_*`, `PHOENIX_COLLECTOR_ENDPOINT`), else to the console; one log
line at start says where. `SPANGUARD_ENABLED=false` turns export off (nothing leaves);
see `spanguard.switches`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter

from spanguard.config.loader import ConfigSource
from spanguard.switches import ENABLED_ENV_VAR, DiscardingSpanProcessor, export_enabled

if TYPE_CHECKING:
    from spanguard.exporters.fanout import FanOutSpanProcessor
    from spanguard.processors.span_processors import SpanguardSpanProcessor

__all__ = ["ENABLED_ENV_VAR", "build_span_processor", "fanout_of", "spanguard_enabled"]

_log = logging.getLogger("spanguard")

# the old name of the switch's reader, kept for callers
spanguard_enabled = export_enabled


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
    config: ConfigSource = None,
    *,
    exporters: Sequence[SpanExporter] | Mapping[str, SpanExporter] | None = None,
    synchronous: bool = False,
) -> SpanguardSpanProcessor | DiscardingSpanProcessor:
    """The engine over a fan-out to the configured (or given) exporters (with
    `SPANGUARD_ENABLED=false`, a processor that discards every span).

    `config`: a `SpanguardConfig`, a mapping, a path, or None for the usual places
    (`$SPANGUARD_CONFIG`, `./spanguard.yaml`, defaults). `exporters=` replaces the
    configured exporters (custom sinks, tests). Raises `ConfigError` for a config that
    cannot work (bad pattern, unwritable file).

    `synchronous=True` ends the chain in the SDK's `SimpleSpanProcessor` per exporter
    instead of the queued fan-out, so a span is exported before `end()` returns. That is
    what an in-memory exporter read right after a span needs (notebooks, tests); never
    use it with a network exporter inside a server, where it would stall every request.
    """
    from spanguard.chain import build_engine, wrap
    from spanguard.config import load_config
    from spanguard.exporters.destinations import describe, effective_exporters
    from spanguard.exporters.factory import build_exporters
    from spanguard.exporters.fanout import FanOutSpanProcessor
    from spanguard.switches import warn_export_off

    loaded = load_config(config)
    if not export_enabled():
        warn_export_off()
        return DiscardingSpanProcessor()
    # Build the engine first: a bad pattern must fail before files are opened.
    engine = build_engine(loaded)
    if exporters is None:
        chosen, source = effective_exporters(loaded)
        named = build_exporters(chosen)
        # a warning for the fallback: a config-less app exporting to the console only
        # must not be a silent surprise
        level = logging.INFO if chosen.console is None or source == "config" else logging.WARNING
        _log.log(level, "spanguard: spans go to %s (%s)", describe(chosen), source)
    else:
        named = _named_exporters(exporters)
        _log.info("spanguard: spans go to %s (given exporters)", ", ".join(named) or "nowhere")
    processor: SpanProcessor = (
        _synchronous_processor(named) if synchronous else FanOutSpanProcessor(named, loaded.exporters.batch)
    )
    return wrap(processor, engine)


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
    """Deprecated: `build_span_processor(...).stats.exporters` has each exporter's stats.
    The fan-out at the end of a chain from `build_span_processor`; kept for one release."""
    from spanguard.exporters.fanout import FanOutSpanProcessor

    warnings.warn(
        "fanout_of is deprecated; use build_span_processor(...).stats.exporters",
        DeprecationWarning,
        stacklevel=2,
    )
    current: object = processor
    for _ in range(8):  # the chain is short; never loop on a cycle
        if isinstance(current, FanOutSpanProcessor):
            return current
        current = getattr(current, "next_processor", None)
        if current is None:
            return None
    return None
