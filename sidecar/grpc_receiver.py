"""OTLP/gRPC receiver: TraceService/Export on raw bytes.

The handler is registered without a deserializer so gRPC hands over the request bytes
untouched: the sidecar parses them once with upb and, when nothing needs changing,
queues those same bytes.

Every refusal is counted, which a unary handler cannot do: gRPC reads a unary request
before calling it, and refuses an oversized or excess call where no handler sees it.
So Export is served as a stream-unary method (the same call on the wire; OTLP clients
make a unary call): the handler runs before the message is read, makes its own checks
(shutting down, token, too many calls) without reading anything, then reads the one
message. gRPC core still enforces `max_receive_message_length`, from the message's
length prefix, so an oversized body is never buffered here; the handler sees that as a
call that ended unread and counts it (`Reason.UNREADABLE`).
"""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2

from spanguard.config.model import TlsConfig
from spanguard.sidecar.admission import MAX_WAIT_S
from spanguard.sidecar.ingest import Ingestor, Reason, Rejected, decode_protobuf
from spanguard.sidecar.listen import BearerAuth, ExportSlots, grpc_address

log = logging.getLogger("spanguard.sidecar")

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
METHOD = "Export"
# a call must deliver its message within this, or it is cancelled (a silent call would
# otherwise hold its thread and its admission for as long as the client likes)
MESSAGE_DEADLINE_S = 30.0
CONNECTION_AGE_MS = 2_000  # with workers > 1: see GrpcReceiver
CONNECTION_AGE_GRACE_MS = 60_000
READING = 4  # calls reading and processing a body at once: what bounds request memory
ADMITTED = 8  # sizes gRPC's own backstop below
WAITING = 32  # calls waiting for their message (bounded by MESSAGE_DEADLINE_S); more are refused
# gRPC's own cap on calls, per admitted call: a last guard, far above what gets in, against
# a flood of new calls that outpaces the spare threads' refusals. gRPC refuses those in its
# poll thread before any handler runs, so they alone are not counted.
BACKSTOP_CALLS_PER_ADMITTED = 16

_CODES: dict[Reason, grpc.StatusCode] = {
    Reason.BAD_PROTOBUF: grpc.StatusCode.INVALID_ARGUMENT,
    Reason.BAD_JSON: grpc.StatusCode.INVALID_ARGUMENT,
    Reason.BAD_ENCODING: grpc.StatusCode.INVALID_ARGUMENT,
    Reason.TOO_LARGE: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Reason.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    Reason.QUEUE_FULL: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Reason.OVERLOADED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Reason.SHUTTING_DOWN: grpc.StatusCode.UNAVAILABLE,
    Reason.QUEUE_ERROR: grpc.StatusCode.UNAVAILABLE,
    Reason.INTERNAL: grpc.StatusCode.INTERNAL,
}
_RETRY_HINTED = (Reason.QUEUE_FULL, Reason.OVERLOADED, Reason.SHUTTING_DOWN, Reason.QUEUE_ERROR)


def _retry_info_trailer(code: grpc.StatusCode, detail: str, delay_s: int) -> tuple[tuple[str, bytes], ...]:
    """OTLP clients read RetryInfo from grpc-status-details-bin to pace their retries."""
    info = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=delay_s))
    status = status_pb2.Status(code=code.value[0], message=detail)
    status.details.add().Pack(info)
    return (("grpc-status-details-bin", status.SerializeToString()),)


def _only_message(requests: Iterator[bytes]) -> bytes:
    """The call's one message; a unary client cannot send another number, a raw HTTP/2 one can."""
    try:
        body = next(requests, None)
        # Reading on to the end of the stream shows a second message (at most
        # max_receive_message_length, and only admitted calls read). It also settles a call
        # that seemed to end empty: when core cancels a call its failed read can reach us
        # before the cancellation does, and looks like a client's end of stream; the next
        # read then raises, where a client that really sent nothing still gets an end.
        extra = next(requests, None)
    except grpc.RpcError:
        # Core cancelled the call: the message was over max_receive_message_length (core has
        # answered RESOURCE_EXHAUSTED), or the client cancelled, disconnected or ran out of
        # deadline. gRPC's Python API shows both the same way, hence one honest reason.
        raise Rejected(Reason.UNREADABLE, "the request could not be read") from None
    if body is None:
        raise Rejected(Reason.BAD_ENCODING, "expected one ExportTraceServiceRequest, got none")
    if extra is not None:
        raise Rejected(Reason.BAD_ENCODING, "expected one ExportTraceServiceRequest, got several")
    return body


class _ExportHandler:
    """One Export call, run before its message is read so that refusing it costs no read."""

    def __init__(
        self,
        ingestor: Ingestor,
        auth: BearerAuth,
        *,
        admitted: int,
        reading: int,
        waiting: int = WAITING,
        message_deadline_s: float = MESSAGE_DEADLINE_S,
    ) -> None:
        self._message_deadline_s = message_deadline_s
        self._ingestor = ingestor
        self._auth = auth
        self._waiting = ExportSlots(waiting)
        self._reading = threading.BoundedSemaphore(reading)
        self.accepting = True

    def __call__(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
        try:
            if not self.accepting:
                raise Rejected(Reason.SHUTTING_DOWN, "sidecar is shutting down")
            if self._auth.enabled:
                header = next((v for k, v in context.invocation_metadata() if k == "authorization"), None)
                if not self._auth.allows(header if isinstance(header, str) else None):
                    raise Rejected(Reason.UNAUTHENTICATED, "missing or wrong bearer token")
            with self._waiting.hold():
                body = self._read_message(requests, context)
            # only calls holding their message wait for a work slot: a slow or silent client
            # waits for its own message (bounded by the deadline) without blocking others;
            # calls holding a message are at most WAITING, which bounds their memory
            with self._reading:
                # waiting for memory past the client's deadline would be work for nobody
                remaining = context.time_remaining()
                wait_s = MAX_WAIT_S if remaining is None else min(MAX_WAIT_S, remaining)
                with self._ingestor.admitted(len(body), wait_s):
                    request = decode_protobuf(body)
                    self._ingestor.accept(request, body, "grpc")
        except Rejected as exc:
            self._ingestor.reject("grpc", exc.reason)
            if not context.is_active():
                return b""  # core has answered (too large) or the client is gone: nothing to send
            code = _CODES.get(exc.reason, grpc.StatusCode.INTERNAL)
            if exc.reason in _RETRY_HINTED:
                delay = self._ingestor.retry_after_s(exc.reason)
                context.set_trailing_metadata(_retry_info_trailer(code, exc.detail, delay))
            context.abort(code, exc.detail)
        return b""  # an empty ExportTraceServiceResponse: full success

    def _read_message(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
        """The one message, or UNREADABLE once the deadline passes (the call is cancelled)."""
        timer = threading.Timer(self._message_deadline_s, context.cancel)
        timer.daemon = True
        timer.start()
        try:
            return _only_message(requests)
        finally:
            timer.cancel()


class GrpcReceiver:
    """A started gRPC server bound to (host, port); `port` is the one actually bound."""

    def __init__(
        self,
        ingestor: Ingestor,
        auth: BearerAuth,
        host: str,
        port: int,
        *,
        max_request_bytes: int,
        tls: TlsConfig | None = None,
        reuse_port: bool = False,
        reading: int = READING,
        admitted: int = ADMITTED,
    ) -> None:
        self._handler = _ExportHandler(ingestor, auth, admitted=admitted, reading=reading)
        options = [
            ("grpc.max_receive_message_length", max_request_bytes),
            ("grpc.max_send_message_length", 1 << 20),
            ("grpc.so_reuseport", 1 if reuse_port else 0),
        ]
        if reuse_port:
            # SO_REUSEPORT spreads *connections*, once, by hash: four long-lived client
            # connections land 4-0 or 3-1 on two workers more often than 2-2. Closing each
            # connection after a while (GOAWAY; calls in flight finish, clients reconnect
            # transparently) re-rolls that draw, so load evens out across workers.
            options += [
                ("grpc.max_connection_age_ms", CONNECTION_AGE_MS),
                ("grpc.max_connection_age_grace_ms", CONNECTION_AGE_GRACE_MS),
            ]
        self._server = grpc.server(
            # Admitted calls hold a thread each until they finish, so `reading` threads more
            # are always free to refuse the excess at once; with no spare thread the check
            # would only run once an admitted call ended, and excess calls would queue.
            futures.ThreadPoolExecutor(max_workers=WAITING + reading, thread_name_prefix="otlp-grpc"),
            options=options,
            maximum_concurrent_rpcs=BACKSTOP_CALLS_PER_ADMITTED * admitted,
        )
        handler = grpc.stream_unary_rpc_method_handler(
            self._handler, request_deserializer=None, response_serializer=None
        )
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, {METHOD: handler}),)
        )
        address = grpc_address(host, port)
        try:
            self.port = self._bind(address, tls)
        except RuntimeError as exc:  # grpc raises RuntimeError when the port is taken
            raise OSError(errno.EADDRINUSE, "address in use or not available") from exc
        if self.port == 0:
            raise OSError(errno.EADDRINUSE, "address in use or not available")
        self._server.start()

    def _bind(self, address: str, tls: TlsConfig | None) -> int:
        if tls is not None:
            credentials = grpc.ssl_server_credentials(
                [(Path(tls.key_file).read_bytes(), Path(tls.cert_file).read_bytes())]
            )
            return int(self._server.add_secure_port(address, credentials))
        return int(self._server.add_insecure_port(address))

    def stop_accepting(self) -> None:
        self._handler.accepting = False

    def stop(self, grace_s: float) -> None:
        self._server.stop(grace_s).wait(grace_s + 1)
