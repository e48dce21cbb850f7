"""Build the SDK exporters the `exporters:` section of the config asks for, by name.

Names are the config keys (`console`, `file`, `phoenix`, `otlp`); the fan-out uses
them for its per-exporter counters and log lines. Building opens files and validates
endpoints, so a bad setting is an error at start-up rather than a lost span later.
"""

from __future__ import annotations

from opentelemetry.sdk.trace.export import SpanExporter

from spanguard.config.model import ExportersConfig
from spanguard.errors import ConfigError
from spanguard.exporters.console import ConsoleSpanExporter
from spanguard.exporters.file_exporter import OtlpJsonFileSpanExporter
from spanguard.exporters.jsonl_file import JsonlFileError
from spanguard.exporters.otlp import build_otlp_exporter, build_phoenix_exporter


def build_exporters(config: ExportersConfig) -> dict[str, SpanExporter]:
    """Exporters by name, in config order; `{}` when the section names none."""
    exporters: dict[str, SpanExporter] = {}
    try:
        if config.console is not None:
            exporters["console"] = ConsoleSpanExporter(config.console.format)
        if config.file is not None:
            try:
                exporters["file"] = OtlpJsonFileSpanExporter.from_config(config.file)
            except JsonlFileError as exc:
                raise ConfigError(str(exc), key="exporters.file.path") from exc
        if config.phoenix is not None:
            exporters["phoenix"] = build_phoenix_exporter(config.phoenix)
        if config.otlp is not None:
            exporters["otlp"] = build_otlp_exporter(config.otlp)
    except BaseException:
        for exporter in exporters.values():
            exporter.shutdown()
        raise
    return exporters
