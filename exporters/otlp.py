"""Phoenix and generic OTLP exporters: the SDK's OTLP exporters with spanguard's rules.

The inner exporter is `wire_exporter.WireSpanExporter`: the fast encoder and ISA-L
gzip over the same OTLP senders the sidecar uses (retries inside the timeout and TLS
as the SDK exporters do them). What the wrapper adds:

- endpoint rules (`/v1/traces` appended for HTTP; Phoenix's env vars and defaults),
- the `openinference.project.name` resource attribute Phoenix files spans under. The
  SDK keeps the resource on each span (the provider's), so the wrapper rewrites the
  resource of the spans it exports; the merged resource is cached because nearly all
  spans share one,
- `max_request_bytes`, read by the fan-out's oversize guard.

Nothing here imports the Phoenix server package: Phoenix is just an OTLP endpoint.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from spanguard.exporters.span_copy import copy_span

from spanguard.config.model import OtlpExporterConfig, PhoenixExporterConfig

PROJECT_ATTRIBUTE = "openinference.project.name"
ENCODER = "spanguard span_encoder (wire format)"  # what the OTLP exporters encode with
PHOENIX_DEFAULT_ENDPOINT = "http://localhost:6006"
PHOENIX_DEFAULT_GRPC_PORT = 4317
TRACES_PATH = "/v1/traces"
# gRPC servers refuse messages over 4 MiB unless configured otherwise; keep a margin
# for the resource and framing. HTTP collectors commonly accept 20 MiB.
GRPC_MAX_REQUEST_BYTES = 4 * 1024 * 1024 - 256 * 1024
HTTP_MAX_REQUEST_BYTES = 16 * 1024 * 1024


def http_traces_url(endpoint: str) -> str:
    """`http://host:4318` -> `http://host:4318/v1/traces`; a URL already ending so is kept."""
    if "//" not in endpoint:
        endpoint = f"http://{endpoint}"
    parsed = urlparse(endpoint)
    path = parsed.path.rstrip("/")
    if not path.endswith(TRACES_PATH):
        path = f"{path}{TRACES_PATH}"
    return parsed._replace(path=path).geturl()


def display_url(url: str) -> str:
    """`url` fit for a log line or an error: no userinfo or query, which may hold a token."""
    parsed = urlparse(url if "//" in url else f"//{url}")
    host = parsed.netloc.rsplit("@", 1)[-1]
    shown = parsed._replace(netloc=f"***@{host}" if "@" in parsed.netloc else host, query="", fragment="")
    text = shown.geturl()
    return text if "//" in url else text.removeprefix("//")


def grpc_target(endpoint: str) -> tuple[str, bool | None]:
    """(`host:port`, insecure) from `host:port`, `http://host:port` or `https://host:port`.

    The scheme decides TLS when there is one; None leaves it to the caller's setting.
    """
    if "//" not in endpoint:
        return endpoint.rstrip("/"), None
    parsed = urlparse(endpoint)
    return parsed.netloc, parsed.scheme != "https"


@dataclass(frozen=True)
class ResolvedPhoenix:
    """Where Phoenix spans go, after config, env vars and defaults are applied."""

    endpoint: str  # full URL for http/protobuf, host:port for grpc
    project: str
    project_explicit: bool  # from config or PHOENIX_PROJECT_NAME, not the "default" fallback
    protocol: str
    insecure: bool
    headers: dict[str, str]


def resolve_phoenix(
    config: PhoenixExporterConfig, environ: Mapping[str, str] | None = None
) -> ResolvedPhoenix:
    """Config first, then `PHOENIX_COLLECTOR_ENDPOINT` / `PHOENIX_PROJECT_NAME` /
    `PHOENIX_API_KEY`, then Phoenix's defaults (the rules `phoenix.otel` follows).

    For gRPC, an endpoint written in the config is used as given (point it at the gRPC
    port); one taken from the environment or the default is Phoenix's HTTP address, so
    its port is replaced by `PHOENIX_GRPC_PORT` (default 4317).
    """
    env = os.environ if environ is None else environ
    explicit_project = config.project or env.get("PHOENIX_PROJECT_NAME")
    project = explicit_project or "default"
    explicit = bool(explicit_project)
    headers = dict(config.headers)
    api_key = env.get("PHOENIX_API_KEY")
    if api_key and not any(key.lower() == "authorization" for key in headers):
        headers["authorization"] = f"Bearer {api_key}"
    base = config.endpoint or env.get("PHOENIX_COLLECTOR_ENDPOINT") or PHOENIX_DEFAULT_ENDPOINT
    if config.protocol == "http/protobuf":
        return ResolvedPhoenix(http_traces_url(base), project, explicit, config.protocol, True, headers)
    if config.endpoint:
        target, insecure = grpc_target(config.endpoint)
        insecure = True if insecure is None else insecure
        return ResolvedPhoenix(target, project, explicit, config.protocol, insecure, headers)
    parsed = urlparse(base if "//" in base else f"http://{base}")
    grpc_port = env.get("PHOENIX_GRPC_PORT") or str(PHOENIX_DEFAULT_GRPC_PORT)
    host = parsed.hostname or "localhost"
    if ":" in host:  # an IPv6 literal keeps its brackets in `host:port`
        host = f"[{host}]"
    return ResolvedPhoenix(
        f"{host}:{grpc_port}", project, explicit, config.protocol, parsed.scheme != "https", headers,
    )


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


def _sdk_exporter(
    protocol: str, endpoint: str, headers: Mapping[str, str], compression: str, timeout_s: float,
    insecure: bool,
) -> SpanExporter:
    """spanguard's wire exporter (fast encoder, ISA-L gzip) over the shared OTLP senders."""
    from spanguard.exporters.wire_exporter import WireSpanExporter
    from spanguard.sidecar.forwarders import OtlpGrpcForwarder, OtlpHttpForwarder

    if protocol == "grpc":
        return WireSpanExporter(
            OtlpGrpcForwarder("otlp", endpoint, insecure, headers, compression, timeout_s), timeout_s
        )
    return WireSpanExporter(OtlpHttpForwarder("otlp", endpoint, headers, compression, timeout_s), timeout_s)


def build_phoenix_exporter(
    config: PhoenixExporterConfig, environ: Mapping[str, str] | None = None
) -> OtlpSpanExporter:
    resolved = resolve_phoenix(config, environ)
    inner = _sdk_exporter(
        resolved.protocol, resolved.endpoint, resolved.headers, config.compression, config.timeout_s,
        resolved.insecure,
    )
    return OtlpSpanExporter(
        inner,
        endpoint=resolved.endpoint,
        protocol=resolved.protocol,
        resource_attributes={PROJECT_ATTRIBUTE: resolved.project} if resolved.project_explicit else None,
        resource_defaults=None if resolved.project_explicit else {PROJECT_ATTRIBUTE: resolved.project},
        max_request_bytes=GRPC_MAX_REQUEST_BYTES if resolved.protocol == "grpc" else HTTP_MAX_REQUEST_BYTES,
    )


def build_otlp_exporter(config: OtlpExporterConfig) -> OtlpSpanExporter:
    if config.protocol == "grpc":
        endpoint, insecure = grpc_target(config.endpoint)
        limit = GRPC_MAX_REQUEST_BYTES
    else:
        endpoint, insecure, limit = http_traces_url(config.endpoint), None, HTTP_MAX_REQUEST_BYTES
    inner = _sdk_exporter(
        config.protocol, endpoint, config.headers, config.compression, config.timeout_s,
        config.insecure if insecure is None else insecure,
    )
    return OtlpSpanExporter(inner, endpoint=endpoint, protocol=config.protocol, max_request_bytes=limit)
