"""The file exporter: OTLP JSON Lines that the Collector's `otlpjsonfile` receiver reads.

Each exported batch becomes one line holding one `TracesData` (the OTLP file-exporter
specification), written whole by `RotatingJsonlFile`. The SDK's own OTLP encoder turns
spans into protobuf, so the file holds exactly what an OTLP exporter would have sent.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from spanguard.exporters.jsonl_file import JsonlFileError, RotatingJsonlFile
from spanguard.exporters.otlp_json import encode_traces_json_line

from spanguard.config.model import FileExporterConfig

_log = logging.getLogger("spanguard.exporters")


class OtlpJsonFileSpanExporter(SpanExporter):
    """Appends one OTLP JSON line per batch; opening the file happens here, at start-up,
    so an unwritable path is a `JsonlFileError` before the first span, not a lost span."""

    def __init__(self, path: str | os.PathLike[str], max_bytes: int, backups: int) -> None:
        self.file = RotatingJsonlFile(path, max_bytes, backups)
        self._shut_down = False

    @classmethod
    def from_config(cls, config: FileExporterConfig) -> OtlpJsonFileSpanExporter:
        return cls(config.path, config.max_bytes, config.backups)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shut_down or not spans:
            return SpanExportResult.FAILURE if self._shut_down else SpanExportResult.SUCCESS
        try:
            line = encode_traces_json_line(encode_spans(spans))
            self.file.append_lines([line])
        except JsonlFileError as exc:
            _log.error("spanguard: %s", exc)  # path and reason only, never span data
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._shut_down = True
        self.file.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
