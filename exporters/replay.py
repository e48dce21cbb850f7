"""Send spans from spanguard's OTLP JSON Lines files to Phoenix or any OTLP endpoint.

The files already hold OTLP (`TracesData` per line), so replay never goes through SDK
span objects: lines are parsed into protobuf, packed into `ExportTraceServiceRequest`s
up to a size limit by the one request splitter and posted by the exporters' byte
senders (http/protobuf or gRPC, gzip) under the one retry policy. The span
ids, parents, times and attributes that arrive are the ones in the file.

Rotated files (`spans.jsonl.3` … `spans.jsonl.1`, `spans.jsonl`) are sent oldest first
whatever order the shell globbed them in. A line that does not parse (e.g. a file
truncated by hand) is skipped and reported by file and line number, never by content;
the rest is still sent.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans

from spanguard.errors import SpanguardError
from spanguard.exporters.endpoints import GRPC_MAX_REQUEST_BYTES, PROJECT_ATTRIBUTE, otlp_target
from spanguard.exporters.otlp_json import decode_traces_json_line
from spanguard.exporters.retry import Outcome, RetryOn, RetryPolicy, send_with_retry
from spanguard.exporters.senders import build_sender
from spanguard.exporters.splitting import pack_resource_spans

_ROTATED = re.compile(r"^(?P<base>.+)\.(?P<index>\d+)$")
ATTEMPTS = 3
# Any failure is tried again, 0.5 s then 1 s later; then replay stops with the reason.
RETRY_POLICY = RetryPolicy(
    initial_interval_s=0.5,
    max_interval_s=1.0,
    max_elapsed_time_s=None,
    multiplier=2.0,
    randomization_factor=0.0,
    max_attempts=ATTEMPTS,
    retry_on=RetryOn.ANY_FAILURE,
)


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


def pack_requests(
    resource_spans: Iterable[ResourceSpans], max_request_bytes: int, project: str | None = None
) -> Iterator[ExportTraceServiceRequest]:
    """Requests of at most `max_request_bytes` each (unless one span alone is larger)."""
    for body, _ in _packed(resource_spans, max_request_bytes, project):
        yield ExportTraceServiceRequest.FromString(body)


def _packed(
    resource_spans: Iterable[ResourceSpans], max_request_bytes: int, project: str | None
) -> Iterator[tuple[bytes, int]]:
    """(request bytes, spans) from the one request splitter; the project stamped first."""
    if project is not None:
        resource_spans = (_with_project(item, project) for item in resource_spans)
    return pack_resource_spans(resource_spans, max_request_bytes)


def _with_project(item: ResourceSpans, project: str) -> ResourceSpans:
    set_project(item, project)
    return item


def count_spans(request: ExportTraceServiceRequest) -> int:
    return sum(len(scope.spans) for rs in request.resource_spans for scope in rs.scope_spans)


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
    if protocol not in ("grpc", "http/protobuf"):
        raise ReplayError(f"unknown protocol {protocol!r} (use http/protobuf or grpc)")
    target = otlp_target(protocol, endpoint, headers, insecure=insecure)
    sender = build_sender("replay", target, "gzip", timeout_s)
    try:
        spans = read_resource_spans(order_files(paths), summary)
        for body, count in _packed(spans, max_request_bytes, project):
            result = send_with_retry(functools.partial(sender.send, body), RETRY_POLICY, wait=_sleep)
            if result is None or result.outcome is not Outcome.OK:
                reason = result.reason if result is not None else "stopped"
                raise ReplayError(
                    f"replay stopped after {summary.spans} spans: {reason} from {sender.shown} "
                    f"({ATTEMPTS} attempts)"
                )
            summary.requests += 1
            summary.spans += count
    finally:
        sender.close()
    return summary


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return True
