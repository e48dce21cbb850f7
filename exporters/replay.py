"""Send spans from spanguard's OTLP JSON Lines files to Phoenix or any OTLP endpoint.

The files already hold OTLP (`TracesData` per line), so replay never goes through SDK
span objects: lines are parsed into protobuf, packed into `ExportTraceServiceRequest`s
up to a size limit and posted as they are (http/protobuf with gzip, or gRPC). The span
ids, parents, times and attributes that arrive are the ones in the file.

Rotated files (`spans.jsonl.3` … `spans.jsonl.1`, `spans.jsonl`) are sent oldest first
whatever order the shell globbed them in. A line that does not parse (e.g. a file
truncated by hand) is skipped and reported by file and line number, never by content;
the rest is still sent.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans
from spanguard.exporters import gzip_codec
from spanguard.exporters.otlp import (
    GRPC_MAX_REQUEST_BYTES,
    PROJECT_ATTRIBUTE,
    display_url,
    grpc_target,
    http_traces_url,
)
from spanguard.exporters.otlp_json import decode_traces_json_line

from spanguard.errors import SpanguardError

_ROTATED = re.compile(r"^(?P<base>.+)\.(?P<index>\d+)$")
ATTEMPTS = 3


class ReplayError(SpanguardError):
    """The endpoint refused or could not be reached; the message says which and how."""


@dataclass
class ReplaySummary:
    files: int = 0
    lines: int = 0
    spans: int = 0
    requests: int = 0
    bad_lines: list[str] = field(default_factory=list)  # "file:line: reason"


def order_files(paths: Sequence[str | Path]) -> list[Path]:
    """Rotated siblings oldest first (`x.2`, `x.1`, `x`), bases in first-seen order."""
    groups: dict[str, list[tuple[int, Path]]] = {}
    for raw in paths:
        path = Path(raw)
        match = _ROTATED.match(path.name)
        base, index = (match["base"], int(match["index"])) if match else (path.name, 0)
        groups.setdefault(str(path.with_name(base)), []).append((index, path))
    ordered: list[Path] = []
    for members in groups.values():
        ordered.extend(path for _, path in sorted(members, key=lambda item: -item[0]))
    return ordered


def read_resource_spans(paths: Iterable[Path], summary: ReplaySummary) -> Iterator[ResourceSpans]:
    for path in paths:
        summary.files += 1
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed by the `with` below
        except OSError as exc:
            raise ReplayError(f"cannot read {path}: {exc.strerror or exc}") from exc
        with handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    traces = decode_traces_json_line(raw)
                except ValueError as exc:
                    summary.bad_lines.append(f"{path}:{number}: {exc}")
                    continue
                summary.lines += 1
                yield from traces.resource_spans


def set_project(resource_spans: ResourceSpans, project: str) -> None:
    attributes = resource_spans.resource.attributes
    for attribute in attributes:
        if attribute.key == PROJECT_ATTRIBUTE:
            attribute.value.CopyFrom(AnyValue(string_value=project))
            return
    attributes.append(KeyValue(key=PROJECT_ATTRIBUTE, value=AnyValue(string_value=project)))


# protobuf framing per nested message (tag + length varint), rounded up
_FRAMING = 8


def split_resource_spans(item: ResourceSpans, max_bytes: int) -> Iterator[ResourceSpans]:
    """`item` in pieces of at most `max_bytes` (unless one span alone is larger).

    One file line holds a whole exported batch, which can be far over a gRPC server's
    4 MiB limit; sent whole it would be refused every time and stop the replay. Each
    piece keeps the resource and the spans' scopes; spans are never cut.
    """
    if item.ByteSize() + _FRAMING <= max_bytes:
        yield item
        return

    def empty() -> ResourceSpans:
        return ResourceSpans(resource=item.resource, schema_url=item.schema_url)

    piece = empty()
    base = size = piece.ByteSize() + _FRAMING
    for scope_spans in item.scope_spans:
        target: ScopeSpans | None = None
        for span in scope_spans.spans:
            span_size = span.ByteSize() + _FRAMING
            if size > base and size + span_size > max_bytes:
                yield piece
                piece, size, target = empty(), base, None
            if target is None:
                target = piece.scope_spans.add()
                target.scope.CopyFrom(scope_spans.scope)
                target.schema_url = scope_spans.schema_url
                size += target.ByteSize() + _FRAMING
            target.spans.append(span)
            size += span_size
    if size > base:
        yield piece


def pack_requests(
    resource_spans: Iterable[ResourceSpans], max_request_bytes: int, project: str | None = None
) -> Iterator[ExportTraceServiceRequest]:
    """Requests of at most `max_request_bytes` each (unless one span alone is larger)."""
    request = ExportTraceServiceRequest()
    size = 0
    for whole in resource_spans:
        if project is not None:
            set_project(whole, project)
        for item in split_resource_spans(whole, max_request_bytes):
            item_size = item.ByteSize() + _FRAMING
            if request.resource_spans and size + item_size > max_request_bytes:
                yield request
                request, size = ExportTraceServiceRequest(), 0
            request.resource_spans.append(item)
            size += item_size
    if request.resource_spans:
        yield request


def count_spans(request: ExportTraceServiceRequest) -> int:
    return sum(len(scope.spans) for rs in request.resource_spans for scope in rs.scope_spans)


class _HttpSender:
    def __init__(self, endpoint: str, headers: Mapping[str, str], timeout_s: float) -> None:
        import httpx

        self.url = http_traces_url(endpoint)
        self.shown_url = display_url(self.url)
        self.client = httpx.Client(timeout=timeout_s)
        self.headers = {
            **headers,
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "gzip",
        }

    def send(self, body: bytes) -> str | None:
        """None on success, else a reason without payload."""
        import httpx

        try:
            response = self.client.post(self.url, content=gzip_codec.compress(body), headers=self.headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__} from {self.shown_url}"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code} from {self.shown_url}"

    def close(self) -> None:
        self.client.close()


class _GrpcSender:
    def __init__(self, endpoint: str, headers: Mapping[str, str], timeout_s: float, insecure: bool) -> None:
        import grpc
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

        self.target, scheme_insecure = grpc_target(endpoint)
        use_insecure = insecure if scheme_insecure is None else scheme_insecure
        self.channel = (
            grpc.insecure_channel(self.target)
            if use_insecure
            else grpc.secure_channel(self.target, grpc.ssl_channel_credentials())
        )
        self.stub = TraceServiceStub(self.channel)
        self.metadata = tuple((key.lower(), value) for key, value in headers.items())
        self.timeout_s = timeout_s

    def send(self, body: bytes) -> str | None:
        import grpc

        request = ExportTraceServiceRequest.FromString(body)
        try:
            self.stub.Export(
                request, metadata=self.metadata, timeout=self.timeout_s, compression=grpc.Compression.Gzip
            )
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            return f"gRPC {getattr(code, 'name', 'error')} from {display_url(self.target)}"
        return None

    def close(self) -> None:
        self.channel.close()


def replay_files(
    paths: Sequence[str | Path],
    endpoint: str,
    *,
    protocol: str = "http/protobuf",
    project: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 10.0,
    insecure: bool = True,
    max_request_bytes: int = GRPC_MAX_REQUEST_BYTES,
) -> ReplaySummary:
    """Send every span in `paths`; raises `ReplayError` when a request fails for good."""
    summary = ReplaySummary()
    sender: _HttpSender | _GrpcSender
    if protocol == "grpc":
        sender = _GrpcSender(endpoint, headers or {}, timeout_s, insecure)
    elif protocol == "http/protobuf":
        sender = _HttpSender(endpoint, headers or {}, timeout_s)
    else:
        raise ReplayError(f"unknown protocol {protocol!r} (use http/protobuf or grpc)")
    try:
        spans = read_resource_spans(order_files(paths), summary)
        for request in pack_requests(spans, max_request_bytes, project):
            body = request.SerializeToString()
            reason: str | None = None
            for attempt in range(ATTEMPTS):
                reason = sender.send(body)
                if reason is None:
                    break
                if attempt + 1 < ATTEMPTS:
                    time.sleep(0.5 * 2**attempt)
            if reason is not None:
                raise ReplayError(
                    f"replay stopped after {summary.spans} spans: {reason} ({ATTEMPTS} attempts)"
                )
            summary.requests += 1
            summary.spans += count_spans(request)
    finally:
        sender.close()
    return summary
