"""Prometheus metrics of the sidecar, served at `/metrics` on the HTTP port.

With `workers: N` several processes count; prometheus-client's multiprocess mode
(`PROMETHEUS_MULTIPROC_DIR`, set by the command before anything imports the client)
sums them at scrape time, so any worker can answer a scrape with the whole picture.
Label values are fixed names (protocol, exporter, reason), never request content.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

if TYPE_CHECKING:
    from spanguard.processors.engine import Counts

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def multiprocess_enabled() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class SidecarMetrics:
    """Every counter and gauge the sidecar keeps, in one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        p = "spanguard_sidecar_"
        self.requests_received = Counter(
            p + "requests_received", "Export requests accepted", ["protocol"], registry=r
        )
        self.spans_received = Counter(
            p + "spans_received", "Spans in accepted requests", ["protocol"], registry=r
        )
        self.requests_rejected = Counter(
            p + "requests_rejected", "Export requests refused, by reason", ["protocol", "reason"], registry=r
        )
        self.redacted = Counter(p + "values_redacted", "Values changed by redaction", registry=r)
        self.truncated = Counter(p + "values_truncated", "Values cut by truncation", registry=r)
        self.dropped = Counter(p + "values_dropped", "Attributes dropped by rules", registry=r)
        self.transform_failed = Counter(
            p + "transform_failures", "Values replaced because a rule failed (fail closed)", registry=r
        )
        self.spans_exported = Counter(
            p + "spans_exported", "Spans accepted by a backend", ["exporter"], registry=r
        )
        self.batches_exported = Counter(
            p + "batches_exported", "Batches accepted by a backend", ["exporter"], registry=r
        )
        self.export_failures = Counter(
            p + "export_failures", "Export attempts that failed and will be retried", ["exporter"], registry=r
        )
        self.spans_failed = Counter(
            p + "spans_failed",
            "Spans given up: refused permanently or retried past max_elapsed_time",
            ["exporter"],
            registry=r,
        )
        self.batches_failed = Counter(
            p + "batches_failed",
            "Requests given up (refused permanently or past max_elapsed_time)",
            ["exporter"],
            registry=r,
        )
        self.spans_dead_lettered = Counter(
            p + "spans_dead_lettered",
            "Given-up spans written to the dead-letter file",
            ["exporter"],
            registry=r,
        )
        self.queue_bytes = Gauge(
            p + "queue_bytes", "Bytes of queue segments on disk", registry=r, multiprocess_mode="livemax"
        )
        self.queue_pending_bytes = Gauge(
            p + "queue_pending_bytes",
            "Queued bytes an exporter has not delivered yet",
            ["exporter"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.torn_records = Counter(
            p + "queue_torn_records_skipped",
            "Torn records (crash mid-write, never acknowledged) skipped",
            registry=r,
        )
        self.corrupt_records = Counter(
            p + "queue_corrupt_records_skipped",
            "Acknowledged records lost to damage on disk, skipped",
            registry=r,
        )
        self.loop_errors = Counter(
            p + "loop_errors",
            "Unexpected errors in a long-running loop (it resumes after a pause)",
            ["loop"],
            registry=r,
        )

    def count_values(self, counts: Counts) -> None:
        """Add what the engine did to one request (`Counts`, as every front door reports)."""
        if counts.redacted:
            self.redacted.inc(counts.redacted)
        if counts.truncated:
            self.truncated.inc(counts.truncated)
        if counts.dropped:
            self.dropped.inc(counts.dropped)
        if counts.failed:
            self.transform_failed.inc(counts.failed)

    def exposition(self) -> bytes:
        if multiprocess_enabled():
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
