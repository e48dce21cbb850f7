"""Phoenix and generic OTLP exporters: the SDK's OTLP exporters with spanguard's rules.

The inner exporter is `wire_exporter.WireSpanExporter`: the fast encoder and ISA-L
gzip over the same OTLP senders the sidecar uses (retries inside the timeout and TLS
as the SDK exporters do them). What the wrapper adds:

- endpoint and project rules, resolved in `endpoints.py` (shared with the sidecar),
- the `openinference.project.name` resource attribute Phoenix files spans under. The
  SDK keeps the resource on each span (the provider's), so the wrapper rewrites the
  resource of the spans it exports; the merged resource is cached because nearly all
  spans share one,
- `max_request_bytes`, read by the fan-out's oversize guard.

Nothing here imports the Phoenix server package: Phoenix is just an OTLP endpoint.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from spanguard.config.model import OtlpExporterConfig, PhoenixExporterConfig
from spanguard.exporters.endpoints import (
    GRPC_MAX_REQUEST_BYTES,
    HTTP_MAX_REQUEST_BYTES,
    NO_RESOURCE_RULES,
    PROJECT_ATTRIBUTE,
    OtlpTarget,
    ResolvedPhoenix,
    grpc_target,
    http_traces_url,
    resolve_otlp,
    resolve_phoenix,
)
from spanguard.exporters.span_copy import copy_span
from spanguard.exporters.urls import display_url


class OtlpSpanExporter(SpanExporter):
    """An OTLP exporter plus resource attributes to stamp and a request size limit."""

    def __init__(
        self,
        inner: SpanExporter,
        *,
        endpoint: str,
        protocol: str,
        resource_attributes: Mapping[str, str] | None = None,
        resource_defaults: Mapping[str, str] | None = None,
        max_request_bytes: int | None = None,
    ) -> None:
        self.inner = inner
        self.endpoint = endpoint
        self.protocol = protocol
        self.resource_attributes = dict(resource_attributes or {})
        # set only where the span's resource lacks the key (e.g. `phoenix.otel.register`
        # already put a project there)
        self.resource_defaults = dict(resource_defaults or {})
        self.max_request_bytes = max_request_bytes
        self._last_source: Resource | None = None
        self._last_merged: Resource | None = None

    def _with_resource(self, span: ReadableSpan) -> ReadableSpan:
        source = span.resource
        if source is not self._last_source:
            wanted = {
                **{k: v for k, v in self.resource_defaults.items() if k not in source.attributes},
                **self.resource_attributes,
            }
            if all(source.attributes.get(key) == value for key, value in wanted.items()):
                merged = source
            else:
                merged = source.merge(Resource(wanted, source.schema_url))
            self._last_source, self._last_merged = source, merged
        merged_resource = self._last_merged
        assert merged_resource is not None
        return span if merged_resource is source else copy_span(span, resource=merged_resource)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.resource_attributes or self.resource_defaults:
            spans = [self._with_resource(span) for span in spans]
        return self.inner.export(spans)

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)

    def __repr__(self) -> str:  # headers may hold credentials: never show them
        return f"{type(self).__name__}(endpoint={display_url(self.endpoint)!r}, protocol={self.protocol!r})"


def _wire_exporter(target: OtlpTarget, compression: str, timeout_s: float) -> SpanExporter:
    """spanguard's wire exporter (fast encoder, ISA-L gzip) over the one OTLP sender. The
    sender gets no resource rules: `OtlpSpanExporter` applies them to the spans first."""
    from spanguard.exporters.senders import build_sender
    from spanguard.exporters.wire_exporter import WireSpanExporter

    bare = dataclasses.replace(target, resource=NO_RESOURCE_RULES)
    return WireSpanExporter(build_sender("otlp", bare, compression, timeout_s), timeout_s)


def _from_target(target: OtlpTarget, compression: str, timeout_s: float) -> OtlpSpanExporter:
    inner = _wire_exporter(target, compression, timeout_s)
    return OtlpSpanExporter(
        inner,
        endpoint=target.endpoint,
        protocol=target.protocol,
        resource_attributes=target.resource.overrides or None,
        resource_defaults=target.resource.defaults or None,
        max_request_bytes=target.max_request_bytes,
    )


def build_phoenix_exporter(
    config: PhoenixExporterConfig, environ: Mapping[str, str] | None = None
) -> OtlpSpanExporter:
    # in process the resource is the app's own: a configured project replaces it
    target = resolve_phoenix(config, environ).target(client_project_wins=False)
    return _from_target(target, config.compression, config.timeout_s)


def build_otlp_exporter(config: OtlpExporterConfig) -> OtlpSpanExporter:
    return _from_target(resolve_otlp(config), config.compression, config.timeout_s)


ENCODER = "spanguard span_encoder (wire format)"  # what the OTLP exporters encode with

__all__ = [  # the endpoint names were defined here before `endpoints.py`; kept importable
    "ENCODER",
    "GRPC_MAX_REQUEST_BYTES",
    "HTTP_MAX_REQUEST_BYTES",
    "PROJECT_ATTRIBUTE",
    "OtlpSpanExporter",
    "ResolvedPhoenix",
    "build_otlp_exporter",
    "build_phoenix_exporter",
    "display_url",
    "grpc_target",
    "http_traces_url",
    "resolve_phoenix",
]
