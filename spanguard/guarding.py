"""`guard(provider)`: redaction and truncation in front of every processor of a provider.

Apps rarely own their tracing setup alone: `phoenix.otel.register()` installs its own
exporting processor, tutorials add a `BatchSpanProcessor(OTLPSpanExporter())` next to
it, and auto-instrumentation adds one per `OTEL_TRACES_EXPORTER`. A spanguard processor
added next to those cleans only its own copy; the others export the raw span. So
`guard` does not add a processor: it makes the provider's span pipeline itself
hand every processor the cleaned span, those added before the call and those added
after it (`add_span_processor(..., replace_default_processor=False)` included), and
adds no exporter of its own.

How (SDK internals, pinned in pyproject and checked by tests/test_guard_internals.py):
an SDK `TracerProvider` keeps its processors in `_active_span_processor`, a
`SynchronousMultiSpanProcessor` (or `ConcurrentMultiSpanProcessor`) whose
`_span_processors` tuple every `add_span_processor` extends, and every tracer it
made holds that same object. `guard` switches that object's class to a subclass whose
`on_end` runs spanguard's engine processor (`spanguard.chain`) first and then the original
`on_end` with the cleaned span. Same object, so tracers made before the call are
guarded too; same tuple, so phoenix.otel's replacing and removing keep working.

What `guard` does not change: `on_start` and `_on_ending` still see the live span
(no standard processor exports there), and a span the redaction stage cannot process
is dropped (fail closed) before any processor sees it.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import (
    ConcurrentMultiSpanProcessor,
    ReadableSpan,
    SpanProcessor,
    SynchronousMultiSpanProcessor,
)
from opentelemetry.sdk.trace import Span as SdkSpan

from spanguard.chain import build_engine, wrap
from spanguard.config.loader import ConfigSource
from spanguard.errors import SpanguardError
from spanguard.switches import DiscardingSpanProcessor, export_enabled, warn_export_off

if TYPE_CHECKING:
    from spanguard.processors.span_processors import SpanguardSpanProcessor, SpanguardStats

_log = logging.getLogger("spanguard")

_HANDLE_ATTRIBUTE = "_spanguard_guard"
_MULTI_PROCESSORS = (SynchronousMultiSpanProcessor, ConcurrentMultiSpanProcessor)
_classes: dict[type, type] = {}
_lock = threading.Lock()


class _Deliver(SpanProcessor):
    """The end of the guard's chain: the provider's own processors, as the SDK calls them."""

    def __init__(self, multi: SpanProcessor, original_on_end: Any) -> None:
        self._multi = multi
        self._original_on_end = original_on_end

    def on_start(self, span: SdkSpan, parent_context: Context | None = None) -> None:
        return None  # the guarded class leaves on_start to the SDK

    def on_end(self, span: ReadableSpan) -> None:
        self._original_on_end(self._multi, span)

    def shutdown(self) -> None:
        return None  # the provider shuts its processors down itself

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class GuardHandle:
    """What `guard` returns: the guarded provider and spanguard's counters (`.stats`)."""

    def __init__(
        self, provider: object, chain: SpanguardSpanProcessor | DiscardingSpanProcessor, exporting: bool
    ) -> None:
        self.provider = provider
        self.chain = chain
        self.exporting = exporting  # False when SPANGUARD_ENABLED=false: every span is discarded

    @property
    def stats(self) -> SpanguardStats:
        """A snapshot: spans seen, values redacted/truncated/dropped, failures (with
        export off, every span counted as seen and dropped)."""
        return self.chain.stats

    def __repr__(self) -> str:
        return f"GuardHandle(exporting={self.exporting}, stats={self.stats})"


def _guarded_on_end(self: Any, span: ReadableSpan) -> None:
    self.__dict__[_HANDLE_ATTRIBUTE].chain.on_end(span)


def _guarded_class_locked(base: type) -> type:
    """The guarded subclass of `base` (one per base); the caller holds `_lock`."""
    cls = _classes.get(base)
    if cls is None:
        namespace = {"on_end": _guarded_on_end, "__module__": __name__}
        cls = type(f"Guarded{base.__name__}", (base,), namespace)
        _classes[base] = cls
    return cls


def _multi_of(provider: object) -> SpanProcessor:
    multi = getattr(provider, "_active_span_processor", None)
    if not isinstance(multi, _MULTI_PROCESSORS) or not isinstance(
        getattr(multi, "_span_processors", None), tuple
    ):
        raise SpanguardError(
            "guard() needs an OpenTelemetry SDK TracerProvider (opentelemetry.sdk.trace.TracerProvider "
            f"or phoenix.otel's); got {type(provider).__name__}"
        )
    return multi


def guard(provider: object, config: ConfigSource = None) -> GuardHandle:
    """Put redaction and truncation in front of every span processor of `provider`.

    `config`: a `SpanguardConfig`, a mapping, a path, or None for the usual places; only
    its `redaction:` and `truncation:` sections matter (no exporter is added). Calling
    it again on the same provider returns the first handle and changes nothing. Raises
    `ConfigError` for a config that cannot work and `SpanguardError` for a provider
    that is not an SDK one.
    """
    from spanguard.config import load_config

    multi = _multi_of(provider)
    existing = multi.__dict__.get(_HANDLE_ATTRIBUTE)
    if isinstance(existing, GuardHandle):
        if config is not None:
            _log.warning("spanguard: this provider is already guarded; the new config is ignored")
        return existing
    loaded = load_config(config)
    if not export_enabled():
        warn_export_off()
        return _install(provider, multi, DiscardingSpanProcessor(), exporting=False)
    chain = wrap(_Deliver(multi, type(multi).on_end), build_engine(loaded))
    return _install(provider, multi, chain, exporting=True)


def guard_discarding(provider: object) -> GuardHandle:
    """Make `provider` discard every span: what a front door does when it cannot guard
    (a broken config) rather than let its processors export raw spans. A provider
    already guarded (or discarding) is left as it is."""
    multi = _multi_of(provider)
    existing = multi.__dict__.get(_HANDLE_ATTRIBUTE)
    if isinstance(existing, GuardHandle):
        return existing
    return _install(provider, multi, DiscardingSpanProcessor(), exporting=False)


def _install(
    provider: object,
    multi: SpanProcessor,
    chain: SpanguardSpanProcessor | DiscardingSpanProcessor,
    *,
    exporting: bool,
) -> GuardHandle:
    handle = GuardHandle(provider, chain, exporting)
    with _lock:
        current = multi.__dict__.get(_HANDLE_ATTRIBUTE)
        if isinstance(current, GuardHandle):  # lost a race with another guard() call
            return current
        multi.__dict__[_HANDLE_ATTRIBUTE] = handle
        multi.__class__ = _guarded_class_locked(type(multi))
    names = [type(p).__name__ for p in multi._span_processors]  # type: ignore[attr-defined]
    _log.info(
        "spanguard: %s the provider's span processors (%s, and any added later)",
        "guarding" if exporting else "discarding every span for",
        ", ".join(names) or "none yet",
    )
    return handle


def guard_of(provider: object) -> GuardHandle | None:
    """The handle of a guarded provider, None when it is not guarded."""
    multi = getattr(provider, "_active_span_processor", None)
    handle = getattr(multi, "__dict__", {}).get(_HANDLE_ATTRIBUTE)
    return handle if isinstance(handle, GuardHandle) else None
