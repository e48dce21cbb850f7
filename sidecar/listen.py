"""Listening addresses and the shared checks both receivers make before decoding."""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import threading
from collections.abc import Iterator

from spanguard.errors import ConfigError
from spanguard.exporters.urls import display_url
from spanguard.sidecar.ingest import Reason, Rejected

log = logging.getLogger("spanguard.sidecar")


def parse_endpoint(endpoint: str, key: str) -> tuple[str, int]:
    """`127.0.0.1:4317`, `[::1]:4317` or `localhost:4317` -> (host, port); port 0 = pick a free one."""
    text = endpoint.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or not host:
        raise ConfigError(f"listen endpoint must be HOST:PORT, got {display_url(endpoint)!r}", key=key)
    port = int(port_text)
    if port > 65535:
        raise ConfigError(f"port out of range in {display_url(endpoint)!r}", key=key)
    return host.strip("[]"), port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def warn_if_exposed(host: str, what: str, has_token: bool) -> None:
    """Binding beyond loopback is allowed (it is a choice in the config) but said out loud."""
    if not is_loopback(host):
        log.warning(
            "%s receiver listens on %s, beyond loopback%s",
            what,
            host,
            "" if has_token else "; no bearer token is configured",
        )


def grpc_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class BearerAuth:
    """Checks `Authorization: Bearer <token>` in constant time; no token = open.

    The scheme is case-insensitive (RFC 9110 section 11.1): `bearer x` is as good as `Bearer x`.
    """

    def __init__(self, token: str | None) -> None:
        self._expected = token.encode() if token else None

    @property
    def enabled(self) -> bool:
        return self._expected is not None

    def allows(self, header_value: str | None) -> bool:
        if self._expected is None:
            return True
        if header_value is None:
            return False
        scheme, _, credentials = header_value.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(credentials.strip().encode(), self._expected)


class ExportSlots:
    """At most `limit` exports inside a receiver at once; the next one is refused, not queued.

    Refusing at once (OVERLOADED, which the caller counts and answers with a retry hint)
    keeps memory bounded under overload and tells the client to back off, where waiting
    would hold its connection and its body for an unknown time.
    """

    def __init__(self, limit: int) -> None:
        self._slots = threading.BoundedSemaphore(limit)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        if not self._slots.acquire(blocking=False):
            raise Rejected(Reason.OVERLOADED, "too many concurrent exports, retry later")
        try:
            yield
        finally:
            self._slots.release()
