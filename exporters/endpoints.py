"""Where an OTLP exporter sends and which resource attributes it sets: resolved once here.

The in-process exporters (`otlp.py`, over the SDK's OTLP exporters), the sidecar's
byte senders and `spanguard replay` all read the same `exporters:` config, so they must
agree on what it means: `/v1/traces` appended for HTTP, `host:port` and TLS from the
scheme for gRPC, Phoenix's environment variables and defaults, the API key header, the
backend's request size limit and the `openinference.project.name` rule. This module is
the one place those rules live; `OtlpTarget` is what they resolve to.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlparse

from spanguard.config.model import OtlpExporterConfig, PhoenixExporterConfig

PROJECT_ATTRIBUTE = "openinference.project.name"
PHOENIX_DEFAULT_ENDPOINT = "http://localhost:6006"
PHOENIX_DEFAULT_GRPC_PORT = 4317
PHOENIX_DEFAULT_PROJECT = "default"
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


def grpc_target(endpoint: str) -> tuple[str, bool | None]:
    """(`host:port`, insecure) from `host:port`, `http://host:port` or `https://host:port`.

    The scheme decides TLS when there is one; None leaves it to the caller's setting.
    """
    if "//" not in endpoint:
        return endpoint.rstrip("/"), None
    parsed = urlparse(endpoint)
    return parsed.netloc, parsed.scheme != "https"


def request_limit(protocol: str) -> int:
    """The request size a backend of `protocol` takes by default."""
    return GRPC_MAX_REQUEST_BYTES if protocol == "grpc" else HTTP_MAX_REQUEST_BYTES


@dataclass(frozen=True)
class ResourceRules:
    """Resource attributes an exporter sets: `overrides` on every resource, `defaults`
    only where the resource lacks the key (a client that named its own project keeps it)."""

    overrides: Mapping[str, str] = field(default_factory=dict)
    defaults: Mapping[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.overrides or self.defaults)


NO_RESOURCE_RULES = ResourceRules()


@dataclass(frozen=True)
class OtlpTarget:
    """An OTLP endpoint with every rule applied: what a sender or SDK exporter needs."""

    protocol: str  # "grpc" or "http/protobuf"
    endpoint: str  # full URL for http/protobuf, host:port for grpc
    insecure: bool
    headers: Mapping[str, str]
    max_request_bytes: int
    resource: ResourceRules = NO_RESOURCE_RULES


def otlp_target(
    protocol: str,
    endpoint: str,
    headers: Mapping[str, str] | None = None,
    *,
    insecure: bool = True,
    resource: ResourceRules = NO_RESOURCE_RULES,
) -> OtlpTarget:
    """The target for a plain OTLP endpoint (`exporters.otlp`, `spanguard replay`).

    For gRPC a scheme decides TLS (`https://` secure, `http://` insecure); without one
    `insecure` does."""
    if protocol == "grpc":
        target, scheme_insecure = grpc_target(endpoint)
        insecure = insecure if scheme_insecure is None else scheme_insecure
        return OtlpTarget(protocol, target, insecure, dict(headers or {}), GRPC_MAX_REQUEST_BYTES, resource)
    return OtlpTarget(
        protocol, http_traces_url(endpoint), True, dict(headers or {}), HTTP_MAX_REQUEST_BYTES, resource
    )


def resolve_otlp(config: OtlpExporterConfig) -> OtlpTarget:
    return otlp_target(config.protocol, config.endpoint, config.headers, insecure=config.insecure)


@dataclass(frozen=True)
class ResolvedPhoenix:
    """Where Phoenix spans go, after config, env vars and defaults are applied."""

    endpoint: str  # full URL for http/protobuf, host:port for grpc
    project: str
    project_explicit: bool  # from config or PHOENIX_PROJECT_NAME, not the "default" fallback
    protocol: str
    insecure: bool
    headers: dict[str, str]

    def resource_rules(self, *, client_project_wins: bool) -> ResourceRules:
        """The project rule. In process the resource is the app's own, so a project set
        in the config or `PHOENIX_PROJECT_NAME` replaces it (and "default" fills a gap).
        A sidecar serves many clients: a project already on a client's resource wins and
        the configured one only fills resources that have none."""
        project = {PROJECT_ATTRIBUTE: self.project}
        if self.project_explicit and not client_project_wins:
            return ResourceRules(overrides=project)
        return ResourceRules(defaults=project)

    def target(self, *, client_project_wins: bool) -> OtlpTarget:
        return OtlpTarget(
            self.protocol,
            self.endpoint,
            self.insecure,
            self.headers,
            request_limit(self.protocol),
            self.resource_rules(client_project_wins=client_project_wins),
        )


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
    project = explicit_project or PHOENIX_DEFAULT_PROJECT
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
        f"{host}:{grpc_port}",
        project,
        explicit,
        config.protocol,
        parsed.scheme != "https",
        headers,
    )
