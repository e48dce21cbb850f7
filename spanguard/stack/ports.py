"""The local stack's ports and the two configs it derives from the user's one file.

`spanguard stack up` takes one config (redaction, truncation, pipeline) and runs two
spanguard processes from it that must differ in exactly one way: where their spans
go. The sidecar exports to the local Phoenix; the chat service exports OTLP to the
sidecar and nowhere else, so what Phoenix shows has been through the sidecar. Writing
those two files (instead of passing overrides around) means each process loads its
config the ordinary way, and a user can open and `spanguard check` what ran.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from spanguard.config.model import (
    ExportersConfig,
    ListenConfig,
    OtlpExporterConfig,
    PhoenixExporterConfig,
    QueueConfig,
    SpanguardConfig,
)

DEFAULT_PHOENIX_PROJECT = "spanguard-stack"


@dataclass(frozen=True)
class StackPorts:
    """Where each local service listens. Phoenix's gRPC moves off 4317: the sidecar owns it."""

    chat: int = 8000
    phoenix: int = 6006
    phoenix_grpc: int = 4319
    sidecar_grpc: int = 4317
    sidecar_http: int = 4318


@dataclass(frozen=True)
class StackUrls:
    """The addresses a user (or a test) talks to."""

    host: str
    ports: StackPorts

    @property
    def chat(self) -> str:
        return f"http://{self.host}:{self.ports.chat}"

    @property
    def phoenix(self) -> str:
        return f"http://{self.host}:{self.ports.phoenix}"

    @property
    def sidecar_http(self) -> str:
        return f"http://{self.host}:{self.ports.sidecar_http}"


def phoenix_project(config: SpanguardConfig) -> str:
    """The Phoenix project the stack's spans go to: the config's, else the stack's own."""
    phoenix = config.exporters.phoenix
    return phoenix.project if phoenix is not None and phoenix.project else DEFAULT_PHOENIX_PROJECT


def sidecar_config(config: SpanguardConfig, urls: StackUrls, workdir: Path) -> SpanguardConfig:
    """The user's config, receiving on loopback and exporting to the local Phoenix.

    Console and OTLP exporters are dropped (the stack's sink is Phoenix, and the
    terminal is for service logs); a file exporter the user asked for is kept. TLS is
    off: every service is on loopback, and the stack's health checks and the chat
    service speak plain HTTP to it. A bearer token is kept (`app_config` sends it).
    """
    user_phoenix = config.exporters.phoenix or PhoenixExporterConfig()
    phoenix = user_phoenix.model_copy(update={"endpoint": urls.phoenix, "project": phoenix_project(config)})
    exporters = ExportersConfig(phoenix=phoenix, file=config.exporters.file, batch=config.exporters.batch)
    sidecar = config.sidecar.model_copy(
        update={
            "grpc": ListenConfig(endpoint=f"{urls.host}:{urls.ports.sidecar_grpc}"),
            "http": ListenConfig(endpoint=f"{urls.host}:{urls.ports.sidecar_http}"),
            "queue": QueueConfig(directory=str(workdir / "queue"), max_bytes=config.sidecar.queue.max_bytes),
            "tls": None,
        }
    )
    return config.model_copy(update={"exporters": exporters, "sidecar": sidecar})


def app_config(config: SpanguardConfig, urls: StackUrls) -> SpanguardConfig:
    """The user's config, exporting OTLP/HTTP to the stack's sidecar and nowhere else.

    When the config makes the sidecar require a bearer token, the chat service sends
    it: without it every span would be refused (401) while the stack looks healthy.
    """
    token = config.sidecar.auth.bearer_token
    headers = {"authorization": f"Bearer {token}"} if token else {}
    otlp = OtlpExporterConfig(endpoint=urls.sidecar_http, protocol="http/protobuf", headers=headers)
    exporters = ExportersConfig(otlp=otlp, batch=config.exporters.batch)
    return config.model_copy(update={"exporters": exporters})


def write_config(config: SpanguardConfig, path: Path) -> Path:
    """Write `config` as YAML that `load_config` reads back to an equal config.

    Every `$` is doubled because the loader substitutes `${VAR}` (and `$$` is its
    literal dollar): values that were already substituted must not be substituted
    twice. The file may hold tokens from headers, so only the owner can read it.
    """
    # `key: null` would mean "on, with defaults" to the loader (as `console:` does), so
    # unset optional sections are left out rather than written as null
    data = _escape_dollars(config.model_dump(mode="json", exclude_none=True))
    text = (
        "# Written by `spanguard stack up` from the stack's config; rewritten on every start.\n"
        + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)
    return path


def _escape_dollars(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {key: _escape_dollars(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_escape_dollars(item) for item in value]
    return value
