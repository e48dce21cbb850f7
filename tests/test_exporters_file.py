"""The file exporter and its building blocks: OTLP JSON lines, rotation, torn-line repair."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support_spans import finished_spans, make_rag_trace, provider_with

from spanguard.config.model import ExportersConfig, FileExporterConfig
from spanguard.errors import ConfigError
from spanguard.exporters.factory import build_exporters
from spanguard.exporters.file_exporter import OtlpJsonFileSpanExporter
from spanguard.exporters.jsonl_file import JsonlFileError, RotatingJsonlFile
from spanguard.exporters.otlp_json import decode_traces_json_line, encode_traces_json_line


def _read_traces(path: Path) -> list[TracesData]:
    return [decode_traces_json_line(line) for line in path.read_text("utf-8").splitlines()]


def test_json_line_follows_otlp_json_mapping() -> None:
    spans = finished_spans(2, note="héllo\nworld")
    request = encode_spans(spans)
    line = encode_traces_json_line(request)
    assert "\n" not in line
    body = json.loads(line)
    span = body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    # OTLP JSON: ids are hex (not base64), enums are integers, keys lowerCamelCase
    assert span["traceId"] == f"{spans[0].context.trace_id:032x}"
    assert span["spanId"] == f"{spans[0].context.span_id:016x}"
    assert isinstance(span["kind"], int)
    assert "startTimeUnixNano" in span
    assert decode_traces_json_line(line) == TracesData(resource_spans=request.resource_spans)


def test_file_read_back_with_protobuf_json_reader_gives_same_spans(tmp_path: Path) -> None:
    """Our file, parsed by protobuf's own JSON reader, holds the spans the SDK would send."""
    path = tmp_path / "spans.jsonl"
    exporter = OtlpJsonFileSpanExporter(path, max_bytes=0, backups=0)
    provider = provider_with(SimpleSpanProcessor(exporter))
    trace = make_rag_trace(provider)
    provider.shutdown()

    memory = InMemorySpanExporter()
    provider2 = provider_with(SimpleSpanProcessor(memory))
    make_rag_trace(provider2)
    provider2.shutdown()

    lines = path.read_text("utf-8").splitlines()
    assert len(lines) == 3  # SimpleSpanProcessor: one batch (line) per span
    read_back: list[dict[str, object]] = []
    for line in lines:
        raw = json.loads(line)
        # The protobuf library's reader, plus the one documented OTLP JSON difference:
        # ids are hex in OTLP JSON; turn them into what json_format expects (base64).
        for rs in raw["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for span in ss["spans"]:
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in span:
                            span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
        traces = json_format.ParseDict(raw, TracesData())
        for rs in traces.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    read_back.append(
                        {
                            "name": span.name,
                            "trace": span.trace_id.hex(),
                            "span": span.span_id.hex(),
                            "parent": span.parent_span_id.hex(),
                            "attributes": json_format.MessageToDict(span)["attributes"],
                            "scope": ss.scope.name,
                            "service": rs.resource.attributes[0].value.string_value,
                        }
                    )
    by_name = {item["name"]: item for item in read_back}
    assert set(by_name) == {"rag.query", "retrieve", "llm.completion"}
    assert by_name["rag.query"]["span"] == trace.root_span_id
    assert by_name["rag.query"]["trace"] == trace.trace_id
    assert by_name["rag.query"]["parent"] == ""
    assert by_name["retrieve"]["parent"] == trace.root_span_id
    assert by_name["llm.completion"]["parent"] == trace.root_span_id
    assert by_name["llm.completion"]["scope"] == "spanguard.tests"
    # Attribute for attribute, the file equals the SDK's own OTLP encoding of the spans.
    expected = {
        span.name: json_format.MessageToDict(encode_spans([span]))["resourceSpans"][0]["scopeSpans"][0][
            "spans"
        ][0]["attributes"]
        for span in memory.get_finished_spans()
    }
    for name, item in by_name.items():
        assert item["attributes"] == expected[name]
    # decode_traces_json_line does the same id mapping for us
    assert sum(len(t.resource_spans) for t in _read_traces(path)) == 3


def test_file_is_private_and_parents_are_made(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "spans.jsonl"
    exporter = OtlpJsonFileSpanExporter(path, max_bytes=10_000, backups=2)
    assert exporter.export(finished_spans(1)) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_rotation_keeps_whole_lines_and_the_newest_backups(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    file = RotatingJsonlFile(path, max_bytes=300, backups=2)
    for index in range(20):
        file.append_lines([json.dumps({"n": index, "pad": "x" * 100})])
    file.close()
    present = sorted(p.name for p in tmp_path.iterdir())
    assert present == ["spans.jsonl", "spans.jsonl.1", "spans.jsonl.2"]
    numbers = []
    for name in ("spans.jsonl.2", "spans.jsonl.1", "spans.jsonl"):
        content = (tmp_path / name).read_text()
        assert content.endswith("\n")
        assert (tmp_path / name).stat().st_size <= 300
        numbers += [json.loads(line)["n"] for line in content.splitlines()]
    # oldest backups were deleted; what is kept is contiguous and ends with the last line
    assert numbers == list(range(numbers[0], 20))
    assert stat.S_IMODE((tmp_path / "spans.jsonl.1").stat().st_mode) == 0o600


def test_zero_backups_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    file = RotatingJsonlFile(path, max_bytes=50, backups=0)
    file.append_lines(["a" * 40])
    file.append_lines(["b" * 40])
    file.close()
    assert path.read_text() == "b" * 40 + "\n"
    assert list(tmp_path.iterdir()) == [path]


def test_a_backup_that_cannot_be_moved_does_not_stop_writing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "spans.jsonl"
    blocker = tmp_path / "spans.jsonl.1"  # a directory where the backup should go
    blocker.mkdir()
    (blocker / "keep").write_text("")
    file = RotatingJsonlFile(path, max_bytes=50, backups=1)
    for index in range(4):
        file.append_lines([f"line-{index}-" + "x" * 30])
    file.close()
    assert path.read_text().splitlines() == [f"line-{index}-" + "x" * 30 for index in range(4)]
    warnings = [r for r in caplog.records if "cannot rotate" in r.getMessage()]
    assert len(warnings) == 1 and "spans.jsonl" in warnings[0].getMessage()


def test_torn_last_line_from_a_crash_is_cut_on_open(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    good = encode_traces_json_line(encode_spans(finished_spans(1)))
    path.write_text(good + "\n" + good[: len(good) // 2])  # the crash: half a line
    exporter = OtlpJsonFileSpanExporter(path, max_bytes=0, backups=0)
    assert exporter.file.repaired_bytes == len(good[: len(good) // 2].encode())
    exporter.export(finished_spans(1))
    exporter.shutdown()
    traces = _read_traces(path)  # every line parses
    assert len(traces) == 2


def test_torn_only_line_leaves_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    path.write_bytes(b'{"resourceSpans":[{"reso')
    file = RotatingJsonlFile(path, max_bytes=0, backups=0)
    file.close()
    assert path.read_bytes() == b""


def test_each_batch_is_one_write_of_whole_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "spans.jsonl"
    file = RotatingJsonlFile(path, max_bytes=0, backups=0)
    writes: list[bytes] = []
    real_write = os.write

    def recording_write(fd: int, data: bytes | memoryview) -> int:
        writes.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", recording_write)
    file.append_lines(["one", "two", "three"])
    file.close()
    assert writes == [b"one\ntwo\nthree\n"]


def test_unwritable_path_is_a_clear_error_at_start_up(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(JsonlFileError, match="not-a-dir"):
        OtlpJsonFileSpanExporter(blocker / "spans.jsonl", max_bytes=0, backups=0)
    config = ExportersConfig(file=FileExporterConfig(path=str(blocker / "spans.jsonl")))
    with pytest.raises(ConfigError, match=r"exporters\.file\.path"):
        build_exporters(config)


def test_factory_builds_the_named_exporters(tmp_path: Path) -> None:
    from spanguard.config.model import ConsoleExporterConfig, OtlpExporterConfig, PhoenixExporterConfig

    config = ExportersConfig(
        console=ConsoleExporterConfig(format="json"),
        file=FileExporterConfig(path=str(tmp_path / "s.jsonl")),
        phoenix=PhoenixExporterConfig(endpoint="http://127.0.0.1:9"),
        otlp=OtlpExporterConfig(endpoint="127.0.0.1:9", protocol="grpc"),
    )
    exporters = build_exporters(config)
    try:
        assert list(exporters) == ["console", "file", "phoenix", "otlp"]
    finally:
        for exporter in exporters.values():
            exporter.shutdown()


def test_every_value_kind_round_trips_and_link_ids_are_hex() -> None:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

    request = encode_spans(finished_spans(1))
    span = request.resource_spans[0].scope_spans[0].spans[0]
    values = {
        "zero": AnyValue(int_value=0),
        "empty": AnyValue(string_value=""),
        "no": AnyValue(bool_value=False),
        "big": AnyValue(int_value=2**62),
        "pi": AnyValue(double_value=3.25),
        "raw": AnyValue(bytes_value=b"\x00\xff"),
        "list": AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1), AnyValue(string_value="q")])),
        "map": AnyValue(
            kvlist_value=KeyValueList(values=[KeyValue(key="z", value=AnyValue(bool_value=True))])
        ),
    }
    for key, value in values.items():
        span.attributes.append(KeyValue(key=key, value=value))
    span.links.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, flags=1)
    span.status.code = 2
    span.status.message = "boom"
    line = encode_traces_json_line(request)
    link = json.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["links"][0]
    assert (link["traceId"], link["spanId"]) == ("01" * 16, "02" * 8)
    assert decode_traces_json_line(line) == TracesData(resource_spans=request.resource_spans)


@pytest.mark.parametrize(
    "bad",
    [
        '{"resourceSpans": [',
        "[1, 2]",
        '{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz-secret-zz"}]}]}]}',
        '{"nope": 1}',
    ],
)
def test_bad_lines_raise_value_error_without_echoing_content(bad: str) -> None:
    with pytest.raises(ValueError) as caught:
        decode_traces_json_line(bad)
    assert "secret" not in str(caught.value) and "nope" not in str(caught.value)
