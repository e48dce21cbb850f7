"""Every OTLP JSON line a file exporter writes fits the Collector's `otlpjsonfile` receiver
(1 MiB lines by default): a large batch becomes several lines, every span on one of them."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from support_sidecar import grpc_export, make_request, sidecar_config, spans_seqs, wait_for
from support_spans import finished_spans

from spanguard.config.model import FileExporterConfig
from spanguard.exporters.file_exporter import OtlpJsonFileSpanExporter
from spanguard.exporters.otlp_json import decode_traces_json_line
from spanguard.exporters.splitting import DEFAULT_MAX_LINE_BYTES, json_lines


def _line_sizes(path: Path) -> list[int]:
    return [len(line) for line in path.read_bytes().split(b"\n")[:-1]]


def _span_ids(lines: list[str] | list[bytes]) -> list[bytes]:
    return [
        span.span_id
        for line in lines
        for rs in decode_traces_json_line(line).resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]


def test_the_default_limit_is_the_collectors_one_mebibyte() -> None:
    assert DEFAULT_MAX_LINE_BYTES == FileExporterConfig().max_line_bytes == 1024 * 1024


def test_a_request_over_the_limit_becomes_lines_under_it_with_every_span_in_order() -> None:
    body = make_request(list(range(2000)), text="é" * 300)  # multi-byte text: bytes, not characters
    limit = 64 * 1024
    lines = json_lines(body, limit)
    assert len(lines) > 5
    assert all(len(line.encode()) <= limit for line in lines)
    whole = json_lines(body, 0)  # no limit: one line
    assert len(whole) == 1 and len(whole[0].encode()) > limit
    assert _span_ids(lines) == _span_ids(whole)


def test_a_single_span_over_the_limit_goes_alone_on_its_line() -> None:
    body = make_request([1], text="x" * 5000)
    assert len(json_lines(body, 1000)) == 1


def test_the_sdk_file_exporter_splits_a_large_batch(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    limit = 32 * 1024
    exporter = OtlpJsonFileSpanExporter(path, max_bytes=0, backups=0, max_line_bytes=limit)
    spans = finished_spans(400, note="n" * 400)
    exporter.export(spans)
    exporter.shutdown()
    sizes = _line_sizes(path)
    assert len(sizes) > 3 and max(sizes) <= limit
    lines = path.read_bytes().split(b"\n")[:-1]
    sent = encode_spans(spans)
    assert sorted(_span_ids(lines)) == sorted(
        span.span_id for rs in sent.resource_spans for ss in rs.scope_spans for span in ss.spans
    )


def test_the_sidecar_file_exporter_writes_a_large_delivery_as_lines_under_one_mebibyte(
    tmp_path: Path, start_sidecar: object
) -> None:
    out = tmp_path / "out.jsonl"
    sidecar = start_sidecar(sidecar_config(tmp_path, exporters={"file": {"path": str(out)}}))  # type: ignore[operator]
    seqs = list(range(10_000, 10_000 + 3000))
    body = make_request(seqs, extra_attrs=3)  # ~3 MB of protobuf, more as JSON
    assert len(body) > 2 * DEFAULT_MAX_LINE_BYTES
    assert grpc_export(sidecar.grpc_address, body).name == "OK"
    assert wait_for(lambda: spans_seqs(out) == set(seqs))
    sizes = _line_sizes(out)
    assert len(sizes) >= 3 and max(sizes) <= DEFAULT_MAX_LINE_BYTES
    assert sidecar.terminate() == 0
