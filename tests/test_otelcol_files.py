"""Files between spanguard and the OpenTelemetry Collector, both ways.

- spanguard's file exporter writes OTLP-JSON lines; the Collector's `otlpjsonfile`
  receiver reads them and its OTLP exporter sends them on: every span arrives as written.
- the Collector's file exporter writes OTLP-JSON lines; `spanguard replay` sends them to
  a spanguard sidecar, which redacts them: every span arrives, with its ids, redacted.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from support_otelcol import loopback_receiver, spans_by_id
from support_receiver import ParseOnlyReceiver
from support_sidecar import read_file_spans, sidecar_config, wait_for
from support_spans import PLANTED_SECRETS, make_rag_trace, provider_with

from spanguard.cli import main
from spanguard.exporters.otlp_json import decode_traces_json_line

TRACES = 10


def _send_rag_traces(grpc_address: str) -> set[tuple[str, str]]:
    provider = provider_with(BatchSpanProcessor(OTLPSpanExporter(endpoint=grpc_address, insecure=True)))
    sent = [make_rag_trace(provider, question_suffix=f" #{i}") for i in range(TRACES)]
    provider.shutdown()
    return {(t.trace_id, span) for t in sent for span in (t.root_span_id, t.retriever_span_id, t.llm_span_id)}


@pytest.mark.slow
def test_otlpjsonfile_receiver_reads_spanguard_file_exporter_output(
    tmp_path: Path, start_sidecar: Any, start_collector: Any
) -> None:
    sidecar = start_sidecar(sidecar_config(tmp_path))
    expected = _send_rag_traces(sidecar.grpc_address)
    out = tmp_path / "out.jsonl"
    assert wait_for(lambda: len(read_file_spans(out)) >= len(expected))
    assert sidecar.terminate() == 0
    written = spans_by_id([decode_traces_json_line(line) for line in out.read_text().splitlines() if line])

    downstream = ParseOnlyReceiver(keep=True)
    try:
        config: dict[str, Any] = {
            "receivers": {
                "otlpjsonfile": {"include": [str(tmp_path / "*.jsonl")], "start_at": "beginning"},
                "otlp": {"protocols": {"grpc": {}}},
            },
            "exporters": {"otlp": {"endpoint": downstream.address, "tls": {"insecure": True}}},
            "service": {"pipelines": {"traces": {"receivers": ["otlpjsonfile"], "exporters": ["otlp"]}}},
        }
        health = loopback_receiver(config)["health"]
        del config["receivers"]["otlp"]  # only there to be moved off 0.0.0.0 by the helper
        collector = start_collector(config, health)
        assert wait_for(lambda: len(spans_by_id(downstream.requests)) >= len(expected), timeout_s=60)
        assert collector.terminate() == 0
        arrived = spans_by_id(downstream.requests)
    finally:
        downstream.stop()
    assert set(arrived) == set(written) == expected
    for key, span in written.items():
        assert arrived[key] == span  # names, parents, times, attributes, events: as written
    wire = b"".join(r.SerializeToString() for r in downstream.requests)
    assert not any(secret.encode() in wire for secret in PLANTED_SECRETS)
    assert b"[REDACTED:" in wire


@pytest.mark.slow
def test_spanguard_replay_reads_the_collector_file_exporter_output(
    tmp_path: Path, start_sidecar: Any, start_collector: Any
) -> None:
    spool = tmp_path / "collector-spool.jsonl"
    config: dict[str, Any] = {
        "receivers": {"otlp": {"protocols": {"grpc": {}}}},
        "exporters": {"file": {"path": str(spool)}},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["file"]}}},
    }
    addresses = loopback_receiver(config)
    collector = start_collector(config, addresses["health"])
    expected = _send_rag_traces(addresses["grpc"])
    assert collector.terminate() == 0  # the file exporter flushes on shutdown
    raw = spool.read_text()
    assert all(secret in raw for secret in PLANTED_SECRETS)  # the Collector kept them as sent

    sidecar = start_sidecar(sidecar_config(tmp_path))
    code = main(["replay", str(spool), "--endpoint", sidecar.http_url, "--protocol", "http/protobuf"])
    assert code == 0
    out = tmp_path / "out.jsonl"
    assert wait_for(lambda: len(read_file_spans(out)) >= len(expected))
    assert sidecar.terminate() == 0
    spans = read_file_spans(out)
    assert {(s["traceId"], s["spanId"]) for s in spans} == expected
    text = out.read_text()
    assert not any(secret in text for secret in PLANTED_SECRETS)
    assert "What is my limit?" in text  # redacted, not dropped


@pytest.mark.slow
def test_otlpjsonfile_receiver_waits_for_whole_lines_and_skips_bad_ones(
    tmp_path: Path, start_collector: Any
) -> None:
    """The local stand-in's own edges: a line is read once its newline is written; a line
    over max_log_size and a line that is not OTLP JSON are skipped (named by file, never
    by content) and the lines after them still arrive."""
    from support_sidecar import make_request

    from spanguard.exporters.otlp_json import encode_traces_json_line

    def line(seqs: list[int], text: str = "hello") -> str:
        request = ExportTraceServiceRequest.FromString(make_request(seqs, text=text))
        return encode_traces_json_line(TracesData(resource_spans=request.resource_spans))

    spool = tmp_path / "in.jsonl"
    spool.write_text(line([1]) + "\n")
    downstream = ParseOnlyReceiver(keep=True)
    try:
        config: dict[str, Any] = {
            "receivers": {
                "otlpjsonfile": {
                    "include": [str(spool)],
                    "start_at": "beginning",
                    "max_log_size": 20_000,
                    "poll_interval": "50ms",
                },
                "otlp": {"protocols": {"grpc": {}}},
            },
            "exporters": {"otlp": {"endpoint": downstream.address, "tls": {"insecure": True}}},
            "service": {"pipelines": {"traces": {"receivers": ["otlpjsonfile"], "exporters": ["otlp"]}}},
        }
        health = loopback_receiver(config)["health"]
        del config["receivers"]["otlp"]
        collector = start_collector(config, health)
        assert wait_for(lambda: downstream.spans == 1)
        half = line([2])
        with spool.open("a") as out:
            out.write(half[:40])
            out.flush()
            time.sleep(0.5)  # several polls see the partial line and leave it
            assert downstream.spans == 1
            out.write(half[40:] + "\n")
            out.write(line([3], text="s3cret-" + "x" * 30_000) + "\n")  # over max_log_size
            out.write('{"resourceSpans": [{"s3cret-in-a-bad-line": 1, "scopeSpans": 7}]}\n')
            out.write(line([4]) + "\n")
        assert wait_for(lambda: downstream.spans == 3)
        time.sleep(0.5)
        assert collector.terminate() == 0
        assert sorted(s.name for s in spans_by_id(downstream.requests).values()) == [
            "span-1",
            "span-2",
            "span-4",
        ]
    finally:
        downstream.stop()
    log = collector.log_text()
    assert "skipping an over-long line" in log and "not OTLP-JSON traces" in log
    assert "s3cret" not in log and "xxxxxxxxxx" not in log
