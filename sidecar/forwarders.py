"""Where the sidecar sends queued requests: protobuf bytes out, no SDK objects rebuilt.

A forwarder takes one request's bytes (records joined, see `envelope`) and says
whether the backend took it (`OK`), may take it later (`RETRY`: down, overloaded,
timing out) or never will (`REJECTED`: a 4xx that retrying cannot fix). Endpoint, project
and API-key rules are the exporters package's (`resolve_phoenix`, `http_traces_url`,
`grpc_target`), so `exporters:` means the same in-process and in the sidecar.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TextIO

import grpc
import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from spanguard.exporters import gzip_codec
from spanguard.exporters.jsonl_file import RotatingJsonlFile
from spanguard.exporters.otlp import (
    GRPC_MAX_REQUEST_BYTES,
    HTTP_MAX_REQUEST_BYTES,
    PROJECT_ATTRIBUTE,
    grpc_target,
    http_traces_url,
    resolve_phoenix,
)
from spanguard.exporters.otlp_json import encode_traces_json_line
from spanguard.sidecar.transform import count_spans
from spanguard.sidecar.wire_split import split_request_wire

from spanguard.config.model import (
    ConsoleExporterConfig,
    ExportersConfig,
    FileExporterConfig,
    OtlpExporterConfig,
    PhoenixExporterConfig,
)

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
# Request bytes handed to a file or console forwarder in one call.
LOCAL_MAX_REQUEST_BYTES = 8 * 1024 * 1024


class Outcome(enum.Enum):
    OK = "ok"
    RETRY = "retry"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome
    reason: str = ""  # a status or exception type, never response or span content


OK = SendResult(Outcome.OK)


class Forwarder(Protocol):
    name: str
    max_request_bytes: int
    # May `send` run on several threads at once? Network clients can (and must, to keep
    # several requests in flight); writers of one file or stream cannot.
    concurrent_sends: bool

    def send(self, body: bytes) -> SendResult: ...

    def close(self) -> None: ...


def split_request(bodies: Sequence[bytes | memoryview], limit: int, spans: int) -> list[tuple[bytes, int]]:
    """The queued requests as (request, spans) pieces below `limit` (a span larger than the
    limit goes alone).

    Backends cap message size (gRPC: 4 MiB by default) while the queue holds whatever
    the clients sent, so delivery joins small requests and cuts big ones on span
    boundaries, keeping resource and scope.
    """
    parts = split_request_wire(bodies, limit)
    if len(parts) == 1:
        return [(parts[0][0], spans)]
    return parts


def stamp_resource(body: bytes, attributes: Mapping[str, str]) -> bytes:
    """Set resource attributes (Phoenix's project name) on every resource of a request."""
    request = ExportTraceServiceRequest.FromString(body)
    for resource_spans in request.resource_spans:
        attrs = resource_spans.resource.attributes
        for key, value in attributes.items():
            for kv in attrs:
                if kv.key == key:
                    kv.value.Clear()
                    kv.value.string_value = value
                    break
            else:
                attrs.append(KeyValue(key=key))
                attrs[-1].value.string_value = value
    return request.SerializeToString()


_RETRYABLE_HTTP = {408, 429, 500, 502, 503, 504}


class OtlpHttpForwarder:
    """POST protobuf bytes to `<endpoint>/v1/traces`, gzip if configured."""

    def __init__(self, name: str, url: str, headers: Mapping[str, str], compression: str, timeout_s: float,
                 resource_attributes: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.url = url
        self.max_request_bytes = HTTP_MAX_REQUEST_BYTES
        self.concurrent_sends = True  # httpx.Client pools connections across threads
        self._gzip = compression == "gzip"
        self._resource_attributes = dict(resource_attributes or {})
        base_headers = {"Content-Type": "application/x-protobuf", **dict(headers)}
        if self._gzip:
            base_headers["Content-Encoding"] = "gzip"
        self._client = httpx.Client(headers=base_headers, timeout=timeout_s)

    def send(self, body: bytes) -> SendResult:
        if self._resource_attributes:
            body = stamp_resource(body, self._resource_attributes)
        data = gzip_codec.compress(body) if self._gzip else body
        try:
            response = self._client.post(self.url, content=data)
        except httpx.HTTPError as exc:
            return SendResult(Outcome.RETRY, type(exc).__name__)
        if 200 <= response.status_code < 300:
            return OK
        outcome = Outcome.RETRY if response.status_code in _RETRYABLE_HTTP else Outcome.REJECTED
        return SendResult(outcome, f"HTTP {response.status_code}")

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:  # headers may hold credentials
        return f"OtlpHttpForwarder({self.name!r}, {self.url!r})"


_RETRYABLE_GRPC = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.DATA_LOSS,
    grpc.StatusCode.INTERNAL,
}


class OtlpGrpcForwarder:
    """TraceService/Export with the request bytes as they are (raw serializers)."""

    def __init__(self, name: str, target: str, insecure: bool, headers: Mapping[str, str], compression: str,
                 timeout_s: float, resource_attributes: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.target = target
        self.max_request_bytes = GRPC_MAX_REQUEST_BYTES
        self.concurrent_sends = True  # a gRPC channel multiplexes calls from any thread
        self._timeout_s = timeout_s
        self._metadata = tuple((key.lower(), value) for key, value in headers.items())
        self._resource_attributes = dict(resource_attributes or {})
        compression_kind = grpc.Compression.Gzip if compression == "gzip" else grpc.Compression.NoCompression
        options = [("grpc.max_send_message_length", -1)]
        if insecure:
            self._channel = grpc.insecure_channel(target, options=options, compression=compression_kind)
        else:
            self._channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(), options=options,
                                                compression=compression_kind)
        self._export = self._channel.unary_unary(
            EXPORT_METHOD, request_serializer=None, response_deserializer=None
        )

    def send(self, body: bytes) -> SendResult:
        if self._resource_attributes:
            body = stamp_resource(body, self._resource_attributes)
        try:
            self._export(body, timeout=self._timeout_s, metadata=self._metadata or None)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
            outcome = Outcome.RETRY if code in _RETRYABLE_GRPC else Outcome.REJECTED
            return SendResult(outcome, f"gRPC {code.name}")
        return OK

    def close(self) -> None:
        self._channel.close()

    def __repr__(self) -> str:
        return f"OtlpGrpcForwarder({self.name!r}, {self.target!r})"


class FileForwarder:
    """One OTLP-JSON line per request into the rotating JSONL file, synced before the ack."""

    name = "file"
    max_request_bytes = LOCAL_MAX_REQUEST_BYTES
    concurrent_sends = False  # appends and rotation of one file

    def __init__(self, config: FileExporterConfig) -> None:
        self._file = RotatingJsonlFile(config.path, config.max_bytes, config.backups)

    def send(self, body: bytes) -> SendResult:
        request = ExportTraceServiceRequest.FromString(body)
        try:
            self._file.append_lines([encode_traces_json_line(request)])
            self._file.flush()
        except OSError as exc:
            return SendResult(Outcome.RETRY, type(exc).__name__)
        except Exception as exc:  # JsonlFileError (disk full, closed): keep it queued
            return SendResult(Outcome.RETRY, type(exc).__name__)
        return OK

    def close(self) -> None:
        self._file.close()


class ConsoleForwarder:
    """`json`: the OTLP-JSON line (spans are already redacted); `pretty`: a count per request."""

    name = "console"
    max_request_bytes = LOCAL_MAX_REQUEST_BYTES
    concurrent_sends = False  # interleaved writes would tear lines

    def __init__(self, config: ConsoleExporterConfig, out: TextIO | None = None) -> None:
        self._format = config.format
        self._out = out

    def send(self, body: bytes) -> SendResult:
        request = ExportTraceServiceRequest.FromString(body)
        out = self._out or sys.stdout
        if self._format == "json":
            line = encode_traces_json_line(request)
        else:
            names = sorted({span.name for rs in request.resource_spans for ss in rs.scope_spans
                            for span in ss.spans})
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            line = f"spanguard sidecar: {count_spans(request)} spans ({shown})"
        out.write(line + "\n")
        out.flush()
        return OK

    def close(self) -> None:
        pass


def build_phoenix_forwarder(config: PhoenixExporterConfig) -> Forwarder:
    resolved = resolve_phoenix(config)
    stamp = {PROJECT_ATTRIBUTE: resolved.project}
    if resolved.protocol == "grpc":
        return OtlpGrpcForwarder("phoenix", resolved.endpoint, resolved.insecure, resolved.headers,
                                 config.compression, config.timeout_s, stamp)
    return OtlpHttpForwarder("phoenix", resolved.endpoint, resolved.headers, config.compression,
                             config.timeout_s, stamp)


def build_otlp_forwarder(config: OtlpExporterConfig) -> Forwarder:
    if config.protocol == "grpc":
        target, insecure = grpc_target(config.endpoint)
        return OtlpGrpcForwarder("otlp", target, config.insecure if insecure is None else insecure,
                                 config.headers, config.compression, config.timeout_s)
    return OtlpHttpForwarder("otlp", http_traces_url(config.endpoint), config.headers, config.compression,
                             config.timeout_s)


def build_forwarders(config: ExportersConfig) -> list[Forwarder]:
    """One forwarder per configured exporter, named as in the config (the cursor name)."""
    forwarders: list[Forwarder] = []
    if config.console is not None:
        forwarders.append(ConsoleForwarder(config.console))
    if config.file is not None:
        forwarders.append(FileForwarder(config.file))
    if config.phoenix is not None:
        forwarders.append(build_phoenix_forwarder(config.phoenix))
    if config.otlp is not None:
        forwarders.append(build_otlp_forwarder(config.otlp))
    return forwarders
