"""The byte senders: one OTLP request's protobuf bytes to an HTTP or gRPC endpoint.

The sidecar forwards what it queued and `spanguard replay` posts what a file holds; both
have protobuf bytes already, so neither rebuilds SDK objects. A sender applies the
target's resource rules (Phoenix's project), compresses, sends once and classifies the
answer by the OTLP spec (`retry.classify_http` / `classify_grpc`) into one `SendResult`.
Whether and when to try again is the caller's `RetryPolicy`, not the sender's.
"""

from __future__ import annotations

from collections.abc import Mapping

import grpc
import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from spanguard.exporters import gzip_codec
from spanguard.exporters.endpoints import OtlpTarget
from spanguard.exporters.retry import OK, SendResult, classify_grpc, classify_http, transport_error
from spanguard.exporters.urls import display_url

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
_RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"


def stamp_resource(
    body: bytes, attributes: Mapping[str, str], defaults: Mapping[str, str] | None = None
) -> bytes:
    """Set `attributes` on every resource of a request, and `defaults` on those lacking the key.

    Returns `body` itself when nothing changes (a client that already named its project),
    so the common case costs a parse and no re-serialization.
    """
    request = ExportTraceServiceRequest.FromString(body)
    changed = False
    for resource_spans in request.resource_spans:
        attrs = resource_spans.resource.attributes
        present = {kv.key: kv for kv in attrs}
        for key, value in attributes.items():
            kv = present.get(key)
            if kv is None:
                attrs.append(KeyValue(key=key))
                attrs[-1].value.string_value = value
                changed = True
            elif kv.value.WhichOneof("value") != "string_value" or kv.value.string_value != value:
                kv.value.Clear()
                kv.value.string_value = value
                changed = True
        for key, value in (defaults or {}).items():
            if key not in present:
                attrs.append(KeyValue(key=key))
                attrs[-1].value.string_value = value
                changed = True
    return request.SerializeToString() if changed else body


class _Sender:
    """What both senders keep of their target; the sidecar reads these as a forwarder's."""

    # Network clients may (and must, to keep several requests in flight) send from
    # several threads at once: httpx.Client pools connections, a gRPC channel multiplexes.
    concurrent_sends = True

    def __init__(self, name: str, target: OtlpTarget) -> None:
        self.name = name
        self.shown = display_url(target.endpoint)  # for logs and errors: no credentials
        self.max_request_bytes = target.max_request_bytes
        self._resource = target.resource

    def _stamped(self, body: bytes) -> bytes:
        rules = self._resource
        return stamp_resource(body, rules.overrides, rules.defaults) if rules else body

    def __repr__(self) -> str:  # headers may hold credentials, the URL a token
        return f"{type(self).__name__}({self.name!r}, {self.shown!r})"


class OtlpHttpSender(_Sender):
    """POST protobuf bytes to the target's `/v1/traces` URL, gzip if configured."""

    def __init__(self, name: str, target: OtlpTarget, compression: str, timeout_s: float) -> None:
        super().__init__(name, target)
        self.url = target.endpoint
        self._gzip = compression == "gzip"
        base_headers = {"Content-Type": "application/x-protobuf", **dict(target.headers)}
        if self._gzip:
            base_headers["Content-Encoding"] = "gzip"
        self._client = httpx.Client(headers=base_headers, timeout=timeout_s)

    def send(self, body: bytes) -> SendResult:
        body = self._stamped(body)
        data = gzip_codec.compress(body) if self._gzip else body
        try:
            response = self._client.post(self.url, content=data)
        except httpx.HTTPError as exc:
            return transport_error(exc)
        return classify_http(response.status_code, response.headers)

    def close(self) -> None:
        self._client.close()


def _retry_info_delay(exc: grpc.RpcError) -> float | None:
    """RetryInfo's delay from the status details a server sent along, if any."""
    trailers = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    for key, value in trailers or ():
        if key != "grpc-status-details-bin" or not isinstance(value, bytes):
            continue
        try:
            from google.rpc import error_details_pb2, status_pb2

            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                if detail.type_url == _RETRY_INFO_TYPE:
                    info = error_details_pb2.RetryInfo.FromString(detail.value)
                    return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
        except Exception:  # a malformed detail is no retry hint, not a crash
            return None
    return None


class OtlpGrpcSender(_Sender):
    """TraceService/Export with the request bytes as they are (raw serializers)."""

    def __init__(self, name: str, target: OtlpTarget, compression: str, timeout_s: float) -> None:
        super().__init__(name, target)
        self.target = target.endpoint
        self._timeout_s = timeout_s
        self._metadata = tuple((key.lower(), value) for key, value in target.headers.items())
        compression_kind = grpc.Compression.Gzip if compression == "gzip" else grpc.Compression.NoCompression
        options = [("grpc.max_send_message_length", -1)]
        if target.insecure:
            self._channel = grpc.insecure_channel(self.target, options=options, compression=compression_kind)
        else:
            self._channel = grpc.secure_channel(
                self.target, grpc.ssl_channel_credentials(), options=options, compression=compression_kind
            )
        self._export = self._channel.unary_unary(
            EXPORT_METHOD, request_serializer=None, response_deserializer=None
        )

    def send(self, body: bytes) -> SendResult:
        body = self._stamped(body)
        try:
            self._export(body, timeout=self._timeout_s, metadata=self._metadata or None)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
            return classify_grpc(code.name, _retry_info_delay(exc))
        return OK

    def close(self) -> None:
        self._channel.close()


def build_sender(
    name: str, target: OtlpTarget, compression: str, timeout_s: float
) -> OtlpHttpSender | OtlpGrpcSender:
    if target.protocol == "grpc":
        return OtlpGrpcSender(name, target, compression, timeout_s)
    return OtlpHttpSender(name, target, compression, timeout_s)
