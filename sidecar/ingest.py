"""What both receivers do with a request body: decode, transform, queue, then ack.

Protocol-neutral on purpose: the gRPC and HTTP receivers only map the outcome (or the
`Rejected` reason) to their status codes, so a bad body is judged the same way at both
doors. Error messages name what is wrong with the shape of the input, never its
content: a message that quoted a bad attribute could leak the secret we exist to hide.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import logging
from collections.abc import Iterator
from typing import cast

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spanguard.sidecar import envelope
from spanguard.sidecar.admission import MAX_WAIT_S, MemoryBudget, OverBudget
from spanguard.sidecar.allocator import keep_large_buffers_on_heap
from spanguard.sidecar.json_request import decode_request_json
from spanguard.sidecar.metrics import SidecarMetrics
from spanguard.sidecar.queue_writer import QueueClosed, QueueFull, QueueWriter, RecordTooLarge
from spanguard.sidecar.transform import RequestTransformer, encode_request

log = logging.getLogger("spanguard.sidecar")


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
# Retry-After / RetryInfo: 1 s when the queue is empty, growing with its fill up to this,
# so a standard client waits out a short outage instead of giving up after a few retries.
MAX_RETRY_AFTER_S = 30


def retry_after_s(fill: float) -> int:
    """The retry delay to suggest when the queue is `fill` (0..1) full."""
    return max(1, min(MAX_RETRY_AFTER_S, 1 + round(max(0.0, fill) * (MAX_RETRY_AFTER_S - 1))))


class Reason(enum.Enum):
    """Why a request was refused; the value is the metrics label."""

    BAD_PROTOBUF = "bad_protobuf"
    BAD_JSON = "bad_json"
    BAD_ENCODING = "bad_encoding"
    TOO_LARGE = "too_large"
    # gRPC only: the call ended before its message could be read. gRPC core cancels a call
    # whose message is over max_receive_message_length (the client gets RESOURCE_EXHAUSTED
    # from core), and a client that cancels, disconnects or runs out of deadline looks the
    # same from the handler, so the reason names both rather than guessing.
    UNREADABLE = "unreadable"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    UNAUTHENTICATED = "unauthenticated"
    QUEUE_FULL = "queue_full"
    OVERLOADED = "overloaded"
    SHUTTING_DOWN = "shutting_down"
    NOT_FOUND = "not_found"
    # HTTP only: the body did not arrive within the read deadline (a slow or stalled client)
    TIMEOUT = "body_timeout"
    # the queue could not write (an I/O error, too many open files): retryable, unlike INTERNAL
    QUEUE_ERROR = "queue_error"
    INTERNAL = "internal"


class Rejected(Exception):
    """A request refused for `reason`; `detail` is safe to send back (no content)."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def decode_protobuf(body: bytes) -> ExportTraceServiceRequest:
    try:
        return ExportTraceServiceRequest.FromString(body)
    except (DecodeError, RecursionError, ValueError) as exc:
        # upb's message is generic ("Error parsing message"); it never includes field data.
        raise Rejected(Reason.BAD_PROTOBUF, "body is not a valid ExportTraceServiceRequest") from exc


def decode_json(body: bytes) -> ExportTraceServiceRequest:
    try:
        return decode_request_json(body)
    except ValueError as exc:  # BadJson: its message names the shape, never content
        raise Rejected(Reason.BAD_JSON, f"body is not OTLP JSON: {exc}") from None


class Ingestor:
    """Decoded request in, durable queue record out; counts every outcome."""

    def __init__(
        self,
        transformer: RequestTransformer,
        writer: QueueWriter,
        metrics: SidecarMetrics,
        budget: MemoryBudget | None = None,
    ) -> None:
        keep_large_buffers_on_heap()  # requests are MBs: no page-fault storm per request
        self._transformer = transformer
        self._writer = writer
        self.metrics = metrics
        self.budget = budget or MemoryBudget(0)  # 0: admission off

    @contextlib.contextmanager
    def admitted(self, request_bytes: int, max_wait_s: float = MAX_WAIT_S) -> Iterator[None]:
        """Decode and accept inside this: the request's estimated memory is charged against
        `max_in_flight_memory`; refused `overloaded` if it never fits within `max_wait_s`."""
        try:
            with self.budget.admit(request_bytes, max_wait_s):
                yield
        except OverBudget:
            raise Rejected(Reason.OVERLOADED, "too much work in progress, retry later") from None

    def accept(self, request: ExportTraceServiceRequest, original: bytes | None, protocol: str) -> int:
        """Transform and queue one request; returns once it is on disk. Raises Rejected."""
        if not request.resource_spans:
            self.metrics.requests_received.labels(protocol).inc()
            return 0  # nothing to keep; still a valid export
        try:
            counts = self._transformer.apply(request, original)
        except Exception as exc:
            # Fail closed: a rule that blew up must not let the request through untouched.
            log.error("transform failed (%s); request refused", type(exc).__name__)
            raise Rejected(Reason.INTERNAL, "request could not be processed") from None
        body = encode_request(request, original, counts)
        try:
            # the writer takes any buffer (len, checksum, writev); its annotation says bytes
            self._writer.append(envelope.header(counts.spans), *cast("list[bytes]", body))
        except QueueFull:
            raise Rejected(Reason.QUEUE_FULL, "queue is full, retry later") from None
        except RecordTooLarge:
            # retrying cannot help: answered like a body over max_request_bytes (413)
            raise Rejected(Reason.TOO_LARGE, "request is larger than the queue's max_bytes") from None
        except QueueClosed:
            raise Rejected(Reason.SHUTTING_DOWN, "sidecar is shutting down") from None
        except OSError as exc:
            if exc.errno in _DISK_FULL:
                # the filesystem filled before max_bytes: backpressure, as for a full queue
                raise Rejected(Reason.QUEUE_FULL, "queue disk is full, retry later") from None
            log.error("queue write failed: %s", exc.strerror)
            # transient (EMFILE, EIO on a flaky disk): a spec-following client retries 503
            raise Rejected(Reason.QUEUE_ERROR, "queue write failed, retry later") from None
        m = self.metrics
        m.requests_received.labels(protocol).inc()
        m.spans_received.labels(protocol).inc(counts.spans)
        m.count_values(counts)
        return counts.spans

    def retry_after_s(self, reason: Reason) -> int:
        """Seconds a refused client should wait: grows with the backlog when the queue is the cause."""
        if reason is Reason.QUEUE_FULL:
            return retry_after_s(1.0 - self._writer.free_ratio())
        return 1

    def reject(self, protocol: str, reason: Reason) -> None:
        self.metrics.requests_rejected.labels(protocol, reason.value).inc()
