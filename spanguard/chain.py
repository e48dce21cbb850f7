"""The transform stages every in-process front door puts in front of its delivery.

resource/scope scan -> redact -> truncate -> `next_processor`: the same stages whether
the next processor is spanguard's fan-out (`build_span_processor`), a provider's own
processors (`guard`) or the zero-code exporter. Redaction runs before truncation so a
secret cut in half by truncation has already been caught whole.

The engines are built first and apart (`build_engines`): a bad pattern must fail before
an exporter opens a file or a socket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import SpanProcessor

from spanguard.config.model import SpanguardConfig
from spanguard.switches import warn_redaction_off

if TYPE_CHECKING:
    from spanguard.processors.redaction import Redactor
    from spanguard.processors.truncation import Truncator


@dataclass(frozen=True)
class Engines:
    redactor: Redactor | None
    truncator: Truncator | None


def build_engines(config: SpanguardConfig) -> Engines:
    """The redaction and truncation engines the config turns on; warns when redaction is off."""
    redactor = truncator = None
    if config.redaction.enabled:
        from spanguard.processors.redaction import Redactor

        redactor = Redactor(config.redaction)
    else:
        warn_redaction_off()
    if config.truncation.enabled:
        from spanguard.processors.truncation import Truncator

        truncator = Truncator(config.truncation)
    return Engines(redactor, truncator)


def wrap(next_processor: SpanProcessor, engines: Engines) -> SpanProcessor:
    """`next_processor` behind the stages `engines` turn on (itself when none)."""
    from spanguard.processors.resource_scan import ResourceScanningSpanProcessor
    from spanguard.processors.span_processors import RedactingSpanProcessor, TruncatingSpanProcessor

    processor = next_processor
    if engines.truncator is not None:
        processor = TruncatingSpanProcessor(processor, engines.truncator)
    if engines.redactor is not None:
        processor = RedactingSpanProcessor(processor, engines.redactor)
    if engines.redactor is not None or engines.truncator is not None:
        processor = ResourceScanningSpanProcessor(processor, engines.redactor, engines.truncator)
    return processor


def chain_stats(processor: object) -> dict[str, int]:
    """Counters summed over the stages of a chain from `wrap` (spans counted once)."""
    totals = {"spans": 0, "redacted": 0, "truncated": 0, "dropped": 0, "failed": 0}
    current: object | None = processor
    for _ in range(8):  # the chain is short; never loop on a cycle
        if current is None:
            break
        stats: Any = getattr(current, "stats", None)
        counters = stats.as_dict() if hasattr(stats, "as_dict") else stats
        if isinstance(counters, dict):
            for key, value in counters.items():
                if key == "spans":
                    totals["spans"] = max(totals["spans"], int(value))
                elif key == "resource_values":
                    totals["redacted"] += int(value)
                elif key == "discarded":
                    totals["dropped"] += int(value)
                    totals["spans"] = max(totals["spans"], int(value))
                elif key in totals and isinstance(value, int):
                    totals[key] += value
        current = getattr(current, "next_processor", None)
    return totals
