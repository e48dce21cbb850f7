"""The dead-letter file: batches delivery gave up on, kept so they can be sent again.

A batch is given up when its backend refuses it permanently (HTTP 400, gRPC
INVALID_ARGUMENT, ...) or keeps failing past `retry_on_failure.max_elapsed_time_s`.
Delivery then moves on, so one poisoned batch cannot hold back the queue; the batch
itself goes here, as OTLP JSON lines (already redacted, as everything queued is), one
file per exporter. `spanguard replay <directory>/<exporter>.jsonl*` sends them again once
the backend is fixed. Lines are kept under the Collector's 1 MiB line limit by the one
splitter, and the file rotates like the file exporter's.
"""

from __future__ import annotations

import logging
from pathlib import Path

from spanguard.config.model import DeadLetterConfig
from spanguard.exporters.jsonl_file import RotatingJsonlFile
from spanguard.exporters.splitting import json_lines

log = logging.getLogger("spanguard.sidecar")


class DeadLetterFile:
    """`<directory>/<exporter>.jsonl`, opened at start-up (a bad path fails the start)."""

    def __init__(self, directory: str | Path, exporter: str, max_bytes: int, backups: int) -> None:
        self.path = Path(directory) / f"{exporter}.jsonl"
        self._file = RotatingJsonlFile(self.path, max_bytes, backups)

    @classmethod
    def from_config(cls, config: DeadLetterConfig, exporter: str) -> DeadLetterFile:
        return cls(config.directory, exporter, config.max_bytes, config.backups)

    def write(self, body: bytes) -> bool:
        """Append one request, synced; False (logged, path and reason only) if it could not be."""
        try:
            self._file.append_lines(json_lines(body))
            self._file.flush()
        except Exception as exc:  # disk full, closed: the batch is lost, and the log says so
            log.error("cannot write the dead-letter file %s (%s)", self.path, type(exc).__name__)
            return False
        return True

    def close(self) -> None:
        self._file.close()
