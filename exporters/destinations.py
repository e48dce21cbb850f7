"""Where spans go when the config names no `exporters:`, and the one line that says so.

An app that already exports with the standard variables (`OTEL_EXPORTER_OTLP_*`, or
Phoenix's `PHOENIX_COLLECTOR_ENDPOINT`) and adds spanguard without a config must keep
exporting there, not silently fall back to the console. So with no `exporters:` key:
the OTLP variables when set, else Phoenix's, else the console. Whatever the source,
`describe` gives the line logged at start (endpoints scrubbed by `display_url`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import unquote

from spanguard.config.model import (
    ConsoleExporterConfig,
    ExportersConfig,
    OtlpExporterConfig,
    PhoenixExporterConfig,
    SpanguardConfig,
)
from spanguard.exporters.endpoints import resolve_otlp, resolve_phoenix
from spanguard.exporters.urls import display_url


def _env(environ: Mapping[str, str], signal: str, generic: str) -> str | None:
    value = environ.get(signal) or environ.get(generic)
    return value.strip() if value and value.strip() else None


def parse_otlp_headers(text: str | None) -> dict[str, str]:
    """`k1=v1,k2=v2` (values URL-encoded), as the OTLP exporter spec writes headers."""
    headers: dict[str, str] = {}
    for item in (text or "").split(","):
        name, sep, value = item.partition("=")
        if sep and name.strip():
            headers[unquote(name.strip())] = unquote(value.strip())
    return headers


def from_environment(environ: Mapping[str, str] | None = None) -> tuple[ExportersConfig, str]:
    """(exporters, where the choice came from) for a config without `exporters:`."""
    env = os.environ if environ is None else environ
    endpoint = _env(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
    if endpoint:
        protocol = _env(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
        headers = parse_otlp_headers(
            _env(env, "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS")
        )
        otlp = OtlpExporterConfig(
            endpoint=endpoint, protocol="grpc" if protocol == "grpc" else "http/protobuf", headers=headers
        )
        return ExportersConfig(otlp=otlp), "OTEL_EXPORTER_OTLP_*"
    if _env(env, "PHOENIX_COLLECTOR_ENDPOINT", "PHOENIX_COLLECTOR_ENDPOINT"):
        return ExportersConfig(phoenix=PhoenixExporterConfig()), "PHOENIX_COLLECTOR_ENDPOINT"
    return ExportersConfig(console=ConsoleExporterConfig()), "no exporters configured or in the environment"


def effective_exporters(
    config: SpanguardConfig, environ: Mapping[str, str] | None = None
) -> tuple[ExportersConfig, str]:
    """The config's `exporters:` when it has the key, else `from_environment`."""
    if "exporters" in config.model_fields_set:
        return config.exporters, "config"
    exporters, source = from_environment(environ)
    return exporters.model_copy(update={"batch": config.exporters.batch}), source


def describe(exporters: ExportersConfig, environ: Mapping[str, str] | None = None) -> str:
    """`console, otlp http://collector:4318/v1/traces` (no credentials)."""
    parts: list[str] = []
    if exporters.console is not None:
        parts.append("console")
    if exporters.file is not None:
        parts.append(f"file {exporters.file.path}")
    if exporters.phoenix is not None:
        phoenix = resolve_phoenix(exporters.phoenix, environ)
        parts.append(f"phoenix {display_url(phoenix.endpoint)} (project {phoenix.project})")
    if exporters.otlp is not None:
        parts.append(f"otlp {display_url(resolve_otlp(exporters.otlp).endpoint)}")
    return ", ".join(parts) or "nowhere (the exporters section names none)"
