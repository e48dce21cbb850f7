"""`phoenix serve` with its OTLP gRPC receiver on the stack's host instead of every interface.

Run by the Phoenix environment's own interpreter (it must not import spanguard, whose
environment it does not share). Phoenix binds its gRPC server to `[::]` whatever
`PHOENIX_HOST` says, so in `spanguard stack up` anyone on the network could send spans
straight to Phoenix, past the sidecar's redaction. Phoenix has no setting for that
address (only read-only mode turns the server off, and with it all ingestion), so this
rewrites the any-address to `PHOENIX_HOST` when the server binds, then runs Phoenix's
own entry point.

Usage: <phoenix-env>/bin/python phoenix_launcher.py serve
"""

from __future__ import annotations

import os
import sys
from typing import Any

ANY_ADDRESS_PREFIXES = ("[::]:", "0.0.0.0:")


def on_host(address: str, host: str) -> str:
    """`[::]:4319` -> `127.0.0.1:4319` (IPv6 hosts bracketed); other addresses unchanged."""
    for prefix in ANY_ADDRESS_PREFIXES:
        if address.startswith(prefix):
            port = address[len(prefix) :]
            return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return address


def bind_grpc_to(host: str) -> None:
    from grpc.aio import _server  # the class grpc.aio.server() returns

    plain, secure = _server.Server.add_insecure_port, _server.Server.add_secure_port

    def add_insecure_port(self: Any, address: str) -> int:
        return plain(self, on_host(address, host))

    def add_secure_port(self: Any, address: str, credentials: Any) -> int:
        return secure(self, on_host(address, host), credentials)

    _server.Server.add_insecure_port = add_insecure_port  # type: ignore[method-assign,unused-ignore]
    _server.Server.add_secure_port = add_secure_port  # type: ignore[method-assign,unused-ignore]


def main() -> int:
    bind_grpc_to(os.environ.get("PHOENIX_HOST") or "127.0.0.1")
    from phoenix.server.main import main as phoenix_main  # type: ignore[import-not-found,unused-ignore]

    sys.argv = ["phoenix", *sys.argv[1:]]
    result = phoenix_main()
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
