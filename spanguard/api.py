"""`build_span_processor`: the one call that puts spanguard into any TracerProvider.

It returns one `SpanguardSpanProcessor`: the engine (redact, then truncate, so a secret
cut in half by truncation has already been caught whole) in front of the fan-out (one
queue and worker per exporter). `provider.add_span_processor(build_span_processor())`
is all an app needs; its `.stats` says what redaction, truncation and each exporter did.

`SPANGUARD_ENABLED=false` gives the processor a `NoopEngine` (spans go to the
exporters as they are, at no scanning cost). It is meant for debugging on a laptop;
production should leave it unset.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter

from spanguard.config.model import SpanguardConfig

if TYPE_CHECKING:
    from spanguard.exporters.fanout import FanOutSpanProcessor
    from spanguard.processors.span_processors import SpanguardSpanProcessor

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
) -> SpanguardSpanProcessor:
    """The engine over a fan-out to the configured (or given) exporters.

    `config=None` loads it the usual way (`$SPANGUARD_CONFIG`, `./spanguard.yaml`,
    defaults). `exporters=` replaces the configured exporters (custom sinks, tests).
    Raises `ConfigError` for a config that cannot work (bad pattern, unwritable file).
    """
    from spanguard.exporters.factory import build_exporters
    from spanguard.exporters.fanout import FanOutSpanProcessor
    from spanguard.processors.engine import AnyEngine, Engine, NoopEngine
    from spanguard.processors.span_processors import SpanguardSpanProcessor

    if config is None:
        from spanguard.config import load_config

        config = load_config(None)
    enabled = spanguard_enabled()
    engine: AnyEngine = NoopEngine()
    if enabled:
        # Build the engine first: a bad pattern must fail before files are opened.
        # Size control is not a privacy guarantee: a truncation bug passes spans on.
        engine = Engine.from_config(config.redaction, config.truncation, truncation_fails_open=True)
    named = build_exporters(config.exporters) if exporters is None else _named_exporters(exporters)
    fanout = FanOutSpanProcessor(named, config.exporters.batch)
    if not enabled:
        _log.warning(
            "spanguard: %s=false: spans are exported WITHOUT redaction or truncation", ENABLED_ENV_VAR
        )
    return SpanguardSpanProcessor(fanout, engine)


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
