"""Phoenix and generic OTLP exporters: the SDK's OTLP exporters with spanguard's rules.

We wrap `opentelemetry.exporter.otlp.proto.{http,grpc}` rather than write a client:
they already do protobuf encoding, gzip, retries inside the timeout and TLS. What the
wrapper adds:

- endpoint and project rules, resolved in `endpoints.py` (shared with the sidecar),
- the `openinference.project.name` resource attribute Phoenix files spans under. The
  SDK keeps the resource on each span (the provider's), so the wrapper rewrites the
  resource of the spans it exports; the merged resource is cached because nearly all
  spans share one,
- `max_request_bytes`, read by the fan-out's oversize guard.

Nothing here imports the Phoenix server package: Phoenix is just an OTLP endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from spanguard.exporters.endpoints import (
    GRPC_MAX_REQUEST_BYTES,
    HTTP_MAX_REQUEST_BYTES,
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

from spanguard.config.model import OtlpExporterConfig, PhoenixExporterConfig


class OtlpSpanExporter(SpanExporter):
    """An SDK OTLP exporter plus resource attributes to stamp and a request size limit."""

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


def _sdk_exporter(
    protocol: str, endpoint: str, headers: Mapping[str, str], compression: str, timeout_s: float,
    insecure: bool,
) -> SpanExporter:
    if protocol == "grpc":
        import grpc
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter(
            endpoint=endpoint,
            insecure=insecure,
            # gRPC metadata keys must be lower case
            headers={key.lower(): value for key, value in headers.items()},
            timeout=timeout_s,
            compression=grpc.Compression.Gzip if compression == "gzip" else grpc.Compression.NoCompression,
        )
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter(
        endpoint=endpoint,
        headers=dict(headers),
        timeout=timeout_s,
        compression=Compression.Gzip if compression == "gzip" else Compression.NoCompression,
    )


def _from_target(target: OtlpTarget, compression: str, timeout_s: float) -> OtlpSpanExporter:
    inner = _sdk_exporter(
        target.protocol, target.endpoint, target.headers, compression, timeout_s, target.insecure,
    )
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


__all__ = [  # the endpoint names were defined here before `endpoints.py`; kept importable
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
