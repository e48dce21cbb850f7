"""The one transform every in-process front door puts in front of its delivery.

`wrap(next_processor, engine)` is a `SpanguardSpanProcessor`: the one engine step
(`processors/engine.py`: resource/scope scan, redact, then truncate, so a secret cut in
half by truncation has already been caught whole) in front of `next_processor`, the
same whether that is spanguard's fan-out (`build_span_processor`), a provider's own
processors (`guard`) or the zero-code exporter.

The engine is built first and apart (`build_engine`): a bad pattern must fail before
an exporter opens a file or a socket.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry.sdk.trace import SpanProcessor

from spanguard.config.model import SpanguardConfig
from spanguard.switches import warn_redaction_off

if TYPE_CHECKING:
    from spanguard.processors.engine import AnyEngine
    from spanguard.processors.span_processors import SpanguardSpanProcessor


def build_engine(config: SpanguardConfig) -> AnyEngine:
    """The engine the config asks for (a `NoopEngine` when both stages are off); warns
    when redaction is off. A truncation bug passes the span on (size control is not a
    privacy guarantee); a redaction bug drops it."""
    from spanguard.processors.engine import Engine

    if not config.redaction.enabled:
        warn_redaction_off()
    return Engine.from_config(config.redaction, config.truncation, truncation_fails_open=True)


def wrap(next_processor: SpanProcessor, engine: AnyEngine) -> SpanguardSpanProcessor:
    """`next_processor` behind the engine; the result's `.stats` says what it did."""
    from spanguard.processors.span_processors import SpanguardSpanProcessor

    return SpanguardSpanProcessor(next_processor, engine)
