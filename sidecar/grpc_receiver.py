"""OTLP/gRPC receiver: TraceService/Export on raw bytes.

The handler is registered without a deserializer so gRPC hands over the request bytes
untouched: the sidecar parses them once with upb and, when nothing needs changing,
queues those same bytes. Size limits and concurrency are enforced by gRPC itself
(`max_receive_message_length`, `maximum_concurrent_rpcs`), which answer
RESOURCE_EXHAUSTED before a byte of an oversized or excess request is parsed.
"""

from __future__ import annotations

import errno
import logging
from concurrent import futures
from pathlib import Path

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from spanguard.sidecar.ingest import Ingestor, Reason, Rejected, decode_protobuf
from spanguard.sidecar.listen import BearerAuth, grpc_address

from spanguard.config_model import TlsConfig

log = logging.getLogger("spanguard.sidecar")

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
METHOD = "Export"
RETRY_AFTER_S = 1
CONNECTION_AGE_MS = 2_000  # with workers > 1: see GrpcReceiver
CONNECTION_AGE_GRACE_MS = 60_000

_CODES: dict[Reason, grpc.StatusCode] = {
    Reason.BAD_PROTOBUF: grpc.StatusCode.INVALID_ARGUMENT,
    Reason.BAD_JSON: grpc.StatusCode.INVALID_ARGUMENT,
    Reason.BAD_ENCODING: grpc.StatusCode.INVALID_ARGUMENT,
    Reason.TOO_LARGE: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Reason.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    Reason.QUEUE_FULL: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Reason.OVERLOADED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Reason.SHUTTING_DOWN: grpc.StatusCode.UNAVAILABLE,
    Reason.INTERNAL: grpc.StatusCode.INTERNAL,
}


def _retry_info_trailer(code: grpc.StatusCode, detail: str) -> tuple[tuple[str, bytes], ...]:
    """OTLP clients read RetryInfo from grpc-status-details-bin to pace their retries."""
    info = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=RETRY_AFTER_S))
    status = status_pb2.Status(code=code.value[0], message=detail)
    status.details.add().Pack(info)
    return (("grpc-status-details-bin", status.SerializeToString()),)


class _ExportHandler:
    def __init__(self, ingestor: Ingestor, auth: BearerAuth) -> None:
        self._ingestor = ingestor
        self._auth = auth
        self.accepting = True

    def __call__(self, body: bytes, context: grpc.ServicerContext) -> bytes:
        try:
            if not self.accepting:
                raise Rejected(Reason.SHUTTING_DOWN, "sidecar is shutting down")
            if self._auth.enabled:
                header = next(
                    (v for k, v in context.invocation_metadata() if k == "authorization"), None
                )
                if not self._auth.allows(header if isinstance(header, str) else None):
                    raise Rejected(Reason.UNAUTHENTICATED, "missing or wrong bearer token")
            request = decode_protobuf(body)
            self._ingestor.accept(request, body, "grpc")
        except Rejected as exc:
            self._ingestor.reject("grpc", exc.reason)
            code = _CODES.get(exc.reason, grpc.StatusCode.INTERNAL)
            if exc.reason in (Reason.QUEUE_FULL, Reason.OVERLOADED, Reason.SHUTTING_DOWN):
                context.set_trailing_metadata(_retry_info_trailer(code, exc.detail))
            context.abort(code, exc.detail)
        return b""  # an empty ExportTraceServiceResponse: full success


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
        threads: int = 4,
    ) -> None:
        self._handler = _ExportHandler(ingestor, auth)
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
            futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="otlp-grpc"),
            options=options,
            maximum_concurrent_rpcs=threads * 2,
        )
        handler = grpc.unary_unary_rpc_method_handler(
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
