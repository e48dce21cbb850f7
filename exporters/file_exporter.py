"""The file exporter: OTLP JSON Lines that the Collector's `otlpjsonfile` receiver reads.

Each exported batch becomes a line holding one `TracesData` (the OTLP file-exporter
specification), or several when one would exceed `max_line_bytes` (default 1 MiB, the
line limit of the Collector's `otlpjsonfile` receiver; cut by the one splitter), all
written in one go by `RotatingJsonlFile`. The SDK's own OTLP encoder turns
spans into protobuf, so the file holds exactly what an OTLP exporter would have sent.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from spanguard.config.model import FileExporterConfig
from spanguard.exporters.jsonl_file import JsonlFileError, RotatingJsonlFile
from spanguard.exporters.splitting import DEFAULT_MAX_LINE_BYTES, json_lines

_log = logging.getLogger("spanguard.exporters")


class OtlpJsonFileSpanExporter(SpanExporter):
    """Appends one OTLP JSON line per batch; opening the file happens here, at start-up,
    so an unwritable path is a `JsonlFileError` before the first span, not a lost span."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        max_bytes: int,
        backups: int,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        self.file = RotatingJsonlFile(path, max_bytes, backups)
        self.max_line_bytes = max_line_bytes
        self._shut_down = False

    @classmethod
    def from_config(cls, config: FileExporterConfig) -> OtlpJsonFileSpanExporter:
        return cls(config.path, config.max_bytes, config.backups, config.max_line_bytes)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shut_down or not spans:
            return SpanExportResult.FAILURE if self._shut_down else SpanExportResult.SUCCESS
        try:
            self.file.append_lines(json_lines(encode_spans(spans), self.max_line_bytes))
        except JsonlFileError as exc:
            _log.error("spanguard: %s", exc)  # path and reason only, never span data
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._shut_down = True
        self.file.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
