"""Report an unreachable backend once per outage, not once per batch.

A dead endpoint fails every batch; a warning per batch buries everything else in the
log. An `OutageReporter` logs the first failure of an outage and the recovery, with
the number of failed attempts in between. The SDK's OTLP exporters log each failed
attempt themselves; `quiet_sdk_exporter_logs` installs a filter that drops those
records *only* on spanguard's export threads (named `spanguard-export-*`), so an
application's own OTLP exporters keep their logs.
"""

from __future__ import annotations

import logging
import threading

_log = logging.getLogger("spanguard.exporters")

EXPORT_THREAD_PREFIX = "spanguard-export-"
_SDK_EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
)


class _OnSpanguardExportThread(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not threading.current_thread().name.startswith(EXPORT_THREAD_PREFIX)


_FILTER = _OnSpanguardExportThread()


def quiet_sdk_exporter_logs() -> None:
    """Idempotent: our `OutageReporter` says what those per-attempt records would say."""
    for name in _SDK_EXPORTER_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


class OutageReporter:
    """Tracks one exporter's health; logs on the first failure and on recovery only.

    Thread-safe: the sidecar sends several batches of one exporter at once, and they
    share one reporter so an outage is still one warning, not one per sending thread.
    """

    def __init__(self, exporter_name: str) -> None:
        self.exporter_name = exporter_name
        self.in_outage = False
        self.failed_attempts = 0
        self.outages = 0
        self.successes = 0
        self._lock = threading.Lock()

    def attempt(self) -> int:
        """A ticket to pass to `failure`: which successes an attempt started after."""
        with self._lock:
            return self.successes

    def failure(self, reason: str, ticket: int | None = None) -> None:
        """`reason` must not hold span data: an exception type or a status, no message.

        With concurrent sends, an attempt that began before the latest success may fail
        after it (it raced the recovery); that says nothing new about the backend, so
        with its `ticket` it does not open another outage.
        """
        with self._lock:
            raced_recovery = ticket is not None and ticket != self.successes
            if raced_recovery and not self.in_outage:
                return
            self.failed_attempts += 1
            if self.in_outage:
                return
            self.in_outage = True
            self.outages += 1
        _log.warning(
            "spanguard: exporter %r cannot export (%s); retrying with backoff, "
            "further failures are not logged until it recovers",
            self.exporter_name,
            reason,
        )

    def success(self) -> None:
        with self._lock:
            self.successes += 1
            if not self.in_outage:
                return
            attempts = self.failed_attempts
            self.in_outage = False
            self.failed_attempts = 0
        _log.warning(
            "spanguard: exporter %r recovered after %d failed attempts",
            self.exporter_name,
            attempts,
        )
