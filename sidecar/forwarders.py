"""Where the sidecar sends queued requests: protobuf bytes out, no SDK objects rebuilt.

A forwarder takes one request's bytes (records joined, see `envelope`) and answers with
the exporters package's one `SendResult`. Network forwarders *are* the exporters
package's byte senders (`exporters/senders.py`), built from the same endpoint, project
and API-key rules (`exporters/endpoints.py`) as the in-process exporters, so
`exporters:` means the same in process and in the sidecar. Only the file and console
forwarders, which write locally, live here.
"""

from __future__ import annotations

import sys
from typing import Protocol, TextIO

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spanguard.config.model import (
    ConsoleExporterConfig,
    ExportersConfig,
    FileExporterConfig,
    OtlpExporterConfig,
    PhoenixExporterConfig,
)
from spanguard.exporters.endpoints import resolve_otlp, resolve_phoenix
from spanguard.exporters.jsonl_file import RotatingJsonlFile
from spanguard.exporters.otlp_json import encode_traces_json_line
from spanguard.exporters.retry import OK, Outcome, SendResult
from spanguard.exporters.senders import OtlpGrpcSender, OtlpHttpSender, build_sender
from spanguard.exporters.splitting import json_lines, split_request
from spanguard.sidecar.transform import count_spans

# Request bytes handed to a file or console forwarder in one call.
LOCAL_MAX_REQUEST_BYTES = 8 * 1024 * 1024


class Forwarder(Protocol):
    name: str
    max_request_bytes: int
    # May `send` run on several threads at once? Network clients can (and must, to keep
    # several requests in flight); writers of one file or stream cannot.
    concurrent_sends: bool

    def send(self, body: bytes) -> SendResult: ...

    def close(self) -> None: ...


class FileForwarder:
    """A request's OTLP-JSON lines (each under `max_line_bytes`) into the rotating JSONL
    file in one write, synced before the ack."""

    name = "file"
    max_request_bytes = LOCAL_MAX_REQUEST_BYTES
    concurrent_sends = False  # appends and rotation of one file

    def __init__(self, config: FileExporterConfig) -> None:
        self._file = RotatingJsonlFile(config.path, config.max_bytes, config.backups)
        self._max_line_bytes = config.max_line_bytes

    def send(self, body: bytes) -> SendResult:
        lines = json_lines(body, self._max_line_bytes)
        try:
            self._file.append_lines(lines)
            self._file.flush()
        except OSError as exc:
            return SendResult(Outcome.RETRY, type(exc).__name__)
        except Exception as exc:  # JsonlFileError (disk full, closed): keep it queued
            return SendResult(Outcome.RETRY, type(exc).__name__)
        return OK

    def close(self) -> None:
        self._file.close()


class ConsoleForwarder:
    """`json`: the OTLP-JSON line (spans are already redacted); `pretty`: a count per request."""

    name = "console"
    max_request_bytes = LOCAL_MAX_REQUEST_BYTES
    concurrent_sends = False  # interleaved writes would tear lines

    def __init__(self, config: ConsoleExporterConfig, out: TextIO | None = None) -> None:
        self._format = config.format
        self._out = out

    def send(self, body: bytes) -> SendResult:
        request = ExportTraceServiceRequest.FromString(body)
        out = self._out or sys.stdout
        if self._format == "json":
            line = encode_traces_json_line(request)
        else:
            names = sorted(
                {span.name for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans}
            )
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            line = f"spanguard sidecar: {count_spans(request)} spans ({shown})"
        out.write(line + "\n")
        out.flush()
        return OK

    def close(self) -> None:
        pass


def build_phoenix_forwarder(config: PhoenixExporterConfig) -> Forwarder:
    # one sidecar serves many clients: a project on a client's resource wins
    target = resolve_phoenix(config).target(client_project_wins=True)
    return build_sender("phoenix", target, config.compression, config.timeout_s)


def build_otlp_forwarder(config: OtlpExporterConfig) -> Forwarder:
    return build_sender("otlp", resolve_otlp(config), config.compression, config.timeout_s)


def build_forwarders(config: ExportersConfig) -> list[Forwarder]:
    """One forwarder per configured exporter, named as in the config (the cursor name)."""
    forwarders: list[Forwarder] = []
    if config.console is not None:
        forwarders.append(ConsoleForwarder(config.console))
    if config.file is not None:
        forwarders.append(FileForwarder(config.file))
    if config.phoenix is not None:
        forwarders.append(build_phoenix_forwarder(config.phoenix))
    if config.otlp is not None:
        forwarders.append(build_otlp_forwarder(config.otlp))
    return forwarders


# The network forwarders were defined here before `exporters/senders.py`; kept importable.
OtlpHttpForwarder = OtlpHttpSender
OtlpGrpcForwarder = OtlpGrpcSender
__all__ = [
    "OK",
    "ConsoleForwarder",
    "FileForwarder",
    "Forwarder",
    "OtlpGrpcForwarder",
    "OtlpHttpForwarder",
    "Outcome",
    "SendResult",
    "build_forwarders",
    "split_request",
]
