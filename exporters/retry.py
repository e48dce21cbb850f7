"""The one retry policy: which answers are worth another attempt, and how long to wait.

Fan-out (in process), sidecar delivery and `spanguard replay` all send a batch, look at
the answer and maybe try again. The shape of the wait is the OpenTelemetry Collector's
`exporterhelper` `retry_on_failure` ({enabled, initial_interval, max_interval,
max_elapsed_time, multiplier, randomization_factor}); which answers are retryable is the
OTLP specification's:

- HTTP: 429, 502, 503, 504 (and a transport error: no answer at all). A `Retry-After`
  header sets the least wait.
- gRPC: CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS;
  RESOURCE_EXHAUSTED only when the server sends `google.rpc.RetryInfo` (whose delay is
  then the least wait).

Everything else is permanent (`Outcome.REJECTED`). Senders classify by the spec; a
caller's `RetryPolicy.retry_on` says what it retries: the spec's set (`SPEC`: sidecar
delivery, which gives the rest up) or any failure (`ANY_FAILURE`, for exporters that
only say SUCCESS or FAILURE). `send_with_retry` is the one loop; callers give it how to
wait (so a shutdown can cut a wait short) and what to do on each failure.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime


class Outcome(enum.Enum):
    OK = "ok"
    RETRY = "retry"  # retryable per the OTLP spec: down, overloaded, timing out
    REJECTED = "rejected"  # permanent per the OTLP spec: retrying the same bytes cannot help


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one attempt to send one request came to."""

    outcome: Outcome
    reason: str = ""  # a status or exception type, never response or span content
    code: int | str | None = None  # HTTP status or gRPC status name, when the backend answered
    retry_after_s: float | None = None  # Retry-After / RetryInfo: wait at least this long


OK = SendResult(Outcome.OK)

SPEC_RETRYABLE_HTTP = frozenset({429, 502, 503, 504})
SPEC_RETRYABLE_GRPC = frozenset(
    {"CANCELLED", "DEADLINE_EXCEEDED", "ABORTED", "OUT_OF_RANGE", "UNAVAILABLE", "DATA_LOSS"}
)


def classify_http(status: int, headers: Mapping[str, str] | None = None) -> SendResult:
    """An HTTP answer as the OTLP spec reads it."""
    if 200 <= status < 300:
        return OK
    reason = f"HTTP {status}"
    if status not in SPEC_RETRYABLE_HTTP:
        return SendResult(Outcome.REJECTED, reason, status)
    retry_after = parse_retry_after((headers or {}).get("retry-after"))
    return SendResult(Outcome.RETRY, reason, status, retry_after)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a `Retry-After` header (delta seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def classify_grpc(code_name: str, retry_info_delay_s: float | None = None) -> SendResult:
    """A gRPC status as the OTLP spec reads it (`retry_info_delay_s` from RetryInfo, if sent)."""
    if code_name == "OK":
        return OK
    reason = f"gRPC {code_name}"
    if code_name in SPEC_RETRYABLE_GRPC:
        return SendResult(Outcome.RETRY, reason, code_name, retry_info_delay_s)
    if code_name == "RESOURCE_EXHAUSTED" and retry_info_delay_s is not None:
        return SendResult(Outcome.RETRY, reason, code_name, retry_info_delay_s)
    return SendResult(Outcome.REJECTED, reason, code_name)


def transport_error(exc: BaseException) -> SendResult:
    """No answer (refused, reset, timed out): retryable; the reason names the type only."""
    return SendResult(Outcome.RETRY, type(exc).__name__)


class RetryOn(enum.Enum):
    """Which failures a caller tries again."""

    SPEC = "spec"
    ANY_FAILURE = "any_failure"

    def retryable(self, result: SendResult) -> bool:
        if result.outcome is Outcome.OK:
            return False
        return self is RetryOn.ANY_FAILURE or result.outcome is Outcome.RETRY


@dataclass(frozen=True)
class RetryPolicy:
    """The Collector's `retry_on_failure`, plus an attempt cap and what counts as retryable.

    The defaults are the Collector's (5 s, 30 s, 5 min, x1.5, ±50 %). `max_elapsed_time_s`
    None and `max_attempts` None retry for as long as the caller's `wait` allows.
    """

    enabled: bool = True
    initial_interval_s: float = 5.0
    max_interval_s: float = 30.0
    max_elapsed_time_s: float | None = 300.0
    multiplier: float = 1.5
    randomization_factor: float = 0.5
    max_attempts: int | None = None
    retry_on: RetryOn = RetryOn.SPEC
    honour_retry_after: bool = True

    def backoff(self, interval_s: float, rng: Callable[[], float] = random.random) -> float:
        """`interval_s` spread by ±`randomization_factor` (as the Collector's backoff does)."""
        if not self.randomization_factor:
            return interval_s
        spread = self.randomization_factor * interval_s
        return interval_s - spread + rng() * 2 * spread

    def next_interval(self, interval_s: float) -> float:
        return min(interval_s * self.multiplier, self.max_interval_s)


def send_with_retry(
    send: Callable[[], SendResult],
    policy: RetryPolicy,
    *,
    wait: Callable[[float], bool],
    on_failure: Callable[[SendResult], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> SendResult | None:
    """Send until OK, a failure the policy does not retry, or the policy's limits; the
    last result. None when `wait` said stop (shutdown, deadline): the caller keeps the data.

    `on_failure` sees every retryable failure, before the wait (or the give-up) that follows.
    """
    started = clock()
    interval = policy.initial_interval_s
    attempts = 0
    while True:
        result = send()
        attempts += 1
        if not policy.enabled or not policy.retry_on.retryable(result):
            return result
        if on_failure is not None:
            on_failure(result)
        if policy.max_attempts is not None and attempts >= policy.max_attempts:
            return result
        pause = policy.backoff(interval)
        if policy.honour_retry_after and result.retry_after_s is not None:
            pause = max(pause, result.retry_after_s)
        if policy.max_elapsed_time_s is not None and clock() - started + pause > policy.max_elapsed_time_s:
            return result
        if not wait(pause):
            return None
        interval = policy.next_interval(interval)
