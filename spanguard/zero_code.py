"""Zero-code use, the standard way: spanguard as an OpenTelemetry distro and configurator.

    OTEL_PYTHON_DISTRO=spanguard opentelemetry-instrument python app.py

`opentelemetry-instrument` loads a distro (`opentelemetry_distro` entry point), then a
configurator (`opentelemetry_configurator`), then the instrumentors. The distro sets
the defaults (traces to `otlp`, metrics and logs off, and this configurator, so
`OTEL_PYTHON_CONFIGURATOR=spanguard` is implied). The configurator is the SDK's own
(`OTEL_TRACES_EXPORTER`, `OTEL_RESOURCE_ATTRIBUTES`, sampler, ... all mean what they
always do) followed by `guard(provider)`: every exporter named in
`OTEL_TRACES_EXPORTER` (otlp, console, spanguard, ...) receives only cleaned spans.
If the SDK setup fails half-way, or the spanguard config cannot be loaded, the
provider discards every span instead: raw spans never leave because of an error.

Nothing here imports LiteLLM, Chroma or the reference pipeline; only the SDK, the
config loader and the engines.
"""

from __future__ import annotations

import logging
import os

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined,unused-ignore]
from opentelemetry.sdk._configuration import _OTelSDKConfigurator

_log = logging.getLogger("spanguard")

CONFIGURATOR_ENV_VAR = "OTEL_PYTHON_CONFIGURATOR"
OTEL_TRACES_EXPORTER = "OTEL_TRACES_EXPORTER"
OTEL_METRICS_EXPORTER = "OTEL_METRICS_EXPORTER"
OTEL_LOGS_EXPORTER = "OTEL_LOGS_EXPORTER"
NAME = "spanguard"


class SpanguardDistro(BaseDistro):
    """Defaults for `opentelemetry-instrument`: traces over OTLP, guarded by spanguard."""

    def _configure(self, **kwargs: object) -> None:
        os.environ.setdefault(OTEL_TRACES_EXPORTER, "otlp")
        os.environ.setdefault(OTEL_METRICS_EXPORTER, "none")
        os.environ.setdefault(OTEL_LOGS_EXPORTER, "none")
        os.environ.setdefault(CONFIGURATOR_ENV_VAR, NAME)


def guard_global_provider() -> None:
    """Guard the global SDK provider with the usual config; on a config error, make it
    discard every span (and say so in one line) rather than export raw spans."""
    from opentelemetry import trace

    from spanguard.errors import SpanguardError
    from spanguard.guarding import guard, guard_discarding

    provider = trace.get_tracer_provider()
    if not hasattr(provider, "_active_span_processor"):
        return  # no SDK provider was set up: nothing exports, nothing to guard
    try:
        guard(provider)
    except SpanguardError as exc:
        _log.error("spanguard: cannot start (%s); tracing export is off until this is fixed", exc)
        guard_discarding(provider)


class SpanguardConfigurator(_OTelSDKConfigurator):
    """The SDK's configurator, then `guard` on the provider it set up."""

    def _configure(self, **kwargs: object) -> None:
        try:
            super()._configure(**kwargs)
        finally:
            guard_global_provider()
