"""OTLP/HTTP receiver (`POST /v1/traces`) plus `/healthz`, `/readyz` and `/metrics`.

The standard library's threading HTTP server is enough here: each request is a few
megabytes of work bounded by the queue's fsync, not thousands of tiny calls. What it
lacks is added explicitly: a cap on concurrent exports (excess gets 429 at once, so
memory stays bounded under overload), a body limit checked before reading, a bounded
gzip inflate (a zip bomb stops at `max_request_bytes`), and SO_REUSEPORT for workers.
"""

from __future__ import annotations

import errno
import json
import logging
import socket
import ssl
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spanguard.config.model import TlsConfig
from spanguard.sidecar.http_body import BodyReader, inflate_gzip
from spanguard.sidecar.ingest import Ingestor, Reason, Rejected, decode_json, decode_protobuf
from spanguard.sidecar.listen import BearerAuth, ExportSlots

log = logging.getLogger("spanguard.sidecar")

TRACES_PATH = "/v1/traces"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# the whole body must arrive within this (a slow client would otherwise hold its thread)
BODY_DEADLINE_S = 30.0
# connections reading a body at once; past this a new export is refused (OVERLOADED). Only
# exports past their body (decoding, redacting, queueing) take one of the work slots.
MAX_READING = 64

_STATUS: dict[Reason, HTTPStatus] = {
    Reason.BAD_PROTOBUF: HTTPStatus.BAD_REQUEST,
    Reason.BAD_JSON: HTTPStatus.BAD_REQUEST,
    Reason.BAD_ENCODING: HTTPStatus.BAD_REQUEST,
    Reason.TOO_LARGE: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    Reason.UNSUPPORTED_MEDIA_TYPE: HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    Reason.UNAUTHENTICATED: HTTPStatus.UNAUTHORIZED,
    Reason.QUEUE_FULL: HTTPStatus.TOO_MANY_REQUESTS,
    Reason.OVERLOADED: HTTPStatus.TOO_MANY_REQUESTS,
    Reason.SHUTTING_DOWN: HTTPStatus.SERVICE_UNAVAILABLE,
    Reason.NOT_FOUND: HTTPStatus.NOT_FOUND,
    Reason.TIMEOUT: HTTPStatus.REQUEST_TIMEOUT,
    Reason.QUEUE_ERROR: HTTPStatus.SERVICE_UNAVAILABLE,
    Reason.INTERNAL: HTTPStatus.INTERNAL_SERVER_ERROR,
}


class SidecarHttpState:
    """What the handler needs, shared by all its threads."""

    def __init__(
        self,
        ingestor: Ingestor,
        auth: BearerAuth,
        max_request_bytes: int,
        max_concurrent: int,
        metrics_body: Any,
        ready: Any,
    ) -> None:
        self.ingestor = ingestor
        self.auth = auth
        self.max_request_bytes = max_request_bytes
        self.slots = ExportSlots(max_concurrent)
        self.reading = ExportSlots(MAX_READING)
        self.body_deadline_s = BODY_DEADLINE_S
        self.metrics_body = metrics_body  # () -> bytes
        self.ready = ready  # () -> bool
        self.accepting = True


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "spanguard-sidecar"
    sys_version = ""
    # socket timeout: a client that stalls mid-request (or never speaks TLS) frees its thread
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        pass  # request lines could carry query strings; the metrics count what matters

    # ---- plain endpoints
    def do_GET(self) -> None:
        state = self.server.state
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._send(HTTPStatus.OK, b"ok\n", "text/plain")
        elif path == "/readyz":
            if state.accepting and state.ready():
                self._send(HTTPStatus.OK, b"ready\n", "text/plain")
            else:
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"not ready\n", "text/plain")
        elif path == "/metrics":
            from spanguard.sidecar.metrics import CONTENT_TYPE

            self._send(HTTPStatus.OK, state.metrics_body(), CONTENT_TYPE)
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

    def do_PUT(self) -> None:
        self._discard_and_close(HTTPStatus.METHOD_NOT_ALLOWED)

    do_DELETE = do_PATCH = do_PUT

    # ---- OTLP export
    def do_POST(self) -> None:
        state = self.server.state
        content_type = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        as_json = content_type == JSON
        try:
            if self.path.split("?", 1)[0] != TRACES_PATH:
                raise Rejected(Reason.NOT_FOUND, "only /v1/traces is served")
            if not state.accepting:
                raise Rejected(Reason.SHUTTING_DOWN, "sidecar is shutting down")
            if not state.auth.allows(self.headers.get("Authorization")):
                raise Rejected(Reason.UNAUTHENTICATED, "missing or wrong bearer token")
            if content_type not in (PROTOBUF, JSON):
                raise Rejected(Reason.UNSUPPORTED_MEDIA_TYPE, f"use {PROTOBUF} or {JSON}")
            chunked = self._is_chunked()
            length = 0 if chunked else self._content_length()
            if length > state.max_request_bytes:
                raise Rejected(Reason.TOO_LARGE, "body exceeds max_request_bytes")
            with state.reading.hold():
                body = self._read_body(length, chunked)
            # a slot only for the work (decode, redact, queue): slow bodies do not hold one
            with state.slots.hold():
                self._export(body, as_json)
        except Rejected as exc:
            state.ingestor.reject("http", exc.reason)
            self._send_error(exc, as_json)

    def _is_chunked(self) -> bool:
        coding = (self.headers.get("Transfer-Encoding") or "").strip().lower()
        if not coding:
            return False
        if coding != "chunked" or self.headers.get("Content-Length") is not None:
            self.close_connection = True
            raise Rejected(Reason.BAD_ENCODING, "Transfer-Encoding must be chunked, without Content-Length")
        return True

    def _content_length(self) -> int:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            raise Rejected(Reason.BAD_ENCODING, "Content-Length or chunked encoding is required") from None
        if length < 0:
            self.close_connection = True
            raise Rejected(Reason.BAD_ENCODING, "Content-Length is invalid")
        return length

    def _read_body(self, length: int, chunked: bool) -> bytes:
        state = self.server.state
        reader = BodyReader(self.rfile, self.connection, time.monotonic() + state.body_deadline_s)
        try:
            if chunked:
                return reader.read_chunked(state.max_request_bytes)
            return reader.read_exact(length)
        except Rejected:
            self.close_connection = True  # the rest of the body is unread: not a next request
            raise
        finally:
            self.connection.settimeout(self.timeout)

    def _export(self, body: bytes, as_json: bool) -> None:
        state = self.server.state
        encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding == "gzip":
            body = inflate_gzip(body, state.max_request_bytes)
        elif encoding not in ("identity", ""):
            raise Rejected(Reason.UNSUPPORTED_MEDIA_TYPE, "Content-Encoding must be gzip or identity")
        with state.ingestor.admitted(len(body)):
            request = decode_json(body) if as_json else decode_protobuf(body)
            state.ingestor.accept(request, None if as_json else body, "http")
        if as_json:
            self._send(HTTPStatus.OK, b"{}", JSON)
        else:
            self._send(HTTPStatus.OK, ExportTraceServiceRequest().SerializeToString(), PROTOBUF)

    # ---- responses
    def _send_error(self, exc: Rejected, as_json: bool) -> None:
        status = _STATUS.get(exc.reason, HTTPStatus.INTERNAL_SERVER_ERROR)
        if exc.reason in (
            Reason.TOO_LARGE,
            Reason.UNSUPPORTED_MEDIA_TYPE,
            Reason.UNAUTHENTICATED,
            Reason.NOT_FOUND,
            Reason.OVERLOADED,
            Reason.SHUTTING_DOWN,
        ):
            # the body was not read; do not try to parse it as the next request
            self.close_connection = True
        headers: dict[str, str] = {}
        if status in (HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE):
            headers["Retry-After"] = str(self.server.state.ingestor.retry_after_s(exc.reason))
        if status is HTTPStatus.UNAUTHORIZED:
            headers["WWW-Authenticate"] = "Bearer"
        if as_json:
            body = json.dumps({"code": status.value, "message": exc.detail}).encode()
            self._send(status, body, JSON, headers)
        else:
            body = status_pb2.Status(code=status.value, message=exc.detail).SerializeToString()
            self._send(status, body, PROTOBUF, headers)

    def _discard_and_close(self, status: HTTPStatus) -> None:
        self.close_connection = True
        self._send(status, b"", "text/plain")

    def _send(
        self, status: HTTPStatus, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


ACCEPT_PAUSE_S = 0.05


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        state: SidecarHttpState,
        *,
        reuse_port: bool,
        tls_context: ssl.SSLContext | None,
    ) -> None:
        self.allow_reuse_port = reuse_port
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.state = state
        self._tls_context = tls_context
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        try:
            conn, addr = super().get_request()
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                # out of descriptors for a while: the listening socket stays readable, so
                # pause rather than spin; the server loop goes on once they are back
                time.sleep(ACCEPT_PAUSE_S)
            raise
        if self._tls_context is not None:
            conn = self._tls_context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        return conn, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback that may include locals; say only what failed.
        log.warning("HTTP connection error from a client (%s)", client_address[0])


class HttpReceiver:
    """A started HTTP server thread bound to (host, port); `port` is the one bound."""

    def __init__(
        self,
        state: SidecarHttpState,
        host: str,
        port: int,
        *,
        tls: TlsConfig | None = None,
        reuse_port: bool = False,
    ) -> None:
        context: ssl.SSLContext | None = None
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(tls.cert_file, tls.key_file)
        self.state = state
        self._server = _Server((host, port), state, reuse_port=reuse_port, tls_context=context)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="otlp-http", daemon=True
        )
        self._thread.start()

    def stop_accepting(self) -> None:
        self.state.accepting = False

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
