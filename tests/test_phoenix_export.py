"""Spans through spanguard's chain into a real Phoenix, read back through its REST API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support_phoenix import PhoenixServer
from support_spans import LONG_DOCUMENT_CHARS, PLANTED_SECRETS, RagTrace, make_rag_trace, provider_with

from spanguard.api import build_span_processor
from spanguard.config import load_config

pytestmark = pytest.mark.phoenix
DOCUMENT_LIMIT = 4096


def _config(phoenix_section: dict[str, Any], **extra: Any) -> Any:
    return load_config(
        {
            "truncation": {"max_length": DOCUMENT_LIMIT},
            "exporters": {"phoenix": phoenix_section, "batch": {"schedule_delay_ms": 100}, **extra},
        }
    )


def assert_rag_trace_arrived(spans: list[dict[str, Any]], trace: RagTrace) -> None:
    """Parent links intact, OpenInference kinds kept, secrets absent, document cut."""
    by_name = {span["name"]: span for span in spans}
    assert set(by_name) == {"rag.query", "retrieve", "llm.completion"}
    root, retriever, llm = by_name["rag.query"], by_name["retrieve"], by_name["llm.completion"]
    assert {span["context"]["trace_id"] for span in spans} == {trace.trace_id}
    assert root["context"]["span_id"] == trace.root_span_id and root["parent_id"] is None
    assert retriever["parent_id"] == trace.root_span_id
    assert llm["parent_id"] == trace.root_span_id
    assert (root["span_kind"], retriever["span_kind"], llm["span_kind"]) == ("CHAIN", "RETRIEVER", "LLM")
    dumped = json.dumps(spans)
    for secret in PLANTED_SECRETS:
        assert secret not in dumped
    assert "[REDACTED:email]" in root["attributes"]["input.value"]
    document = retriever["attributes"]["retrieval.documents.0.document.content"]
    assert len(document) < DOCUMENT_LIMIT + 100 < LONG_DOCUMENT_CHARS
    assert "truncated" in document
    assert "[REDACTED:" in document  # the key near the start was caught before the cut
    assert llm["attributes"]["llm.model_name"] == "spanguard-local/extractive"
    assert llm["attributes"]["llm.token_count.prompt"] == 42
    assert llm["status_code"] == "OK"


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_rag_trace_reaches_phoenix_redacted_and_truncated(phoenix: PhoenixServer, protocol: str) -> None:
    project = f"rag-{protocol.replace('/', '-')}"
    endpoint = phoenix.base_url if protocol == "http/protobuf" else phoenix.grpc_endpoint
    processor = build_span_processor(
        _config({"endpoint": endpoint, "project": project, "protocol": protocol})
    )
    provider = provider_with(processor)
    trace = make_rag_trace(provider)
    provider.shutdown()  # flushes every exporter within its bound
    spans = phoenix.wait_for_spans(project, 3)
    assert len(spans) == 3
    assert_rag_trace_arrived(spans, trace)
    stats = processor_stats(processor)
    assert stats["phoenix"].exported == 3


def processor_stats(processor: Any) -> Any:
    """Each exporter's counters, as `build_span_processor`'s processor reports them."""
    return processor.stats.exporters


def test_replay_round_trip_file_to_phoenix(phoenix: PhoenixServer, tmp_path: Path) -> None:
    """Spans written by spanguard's file exporter, rotated, then `spanguard replay`ed."""
    path = tmp_path / "traces" / "spans.jsonl"
    config = load_config(
        {
            "truncation": {"max_length": DOCUMENT_LIMIT},
            "exporters": {
                "file": {"path": str(path), "max_bytes": 12_000, "backups": 10},
                "batch": {"schedule_delay_ms": 50, "max_export_batch_size": 2},
            },
        }
    )
    provider = provider_with(build_span_processor(config))
    traces = [make_rag_trace(provider, question_suffix=f" #{n}") for n in range(3)]
    provider.shutdown()
    files = sorted(str(p) for p in path.parent.iterdir())
    assert len(files) > 1  # rotation happened, so replay must read rotated files too

    project = "replayed"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "spanguard",
            "replay",
            *files,
            "--endpoint",
            phoenix.base_url,
            "--project",
            project,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert result.returncode == 0, result.stderr
    assert "replayed 9 spans" in result.stdout
    spans = phoenix.wait_for_spans(project, 9)
    assert len(spans) == 9
    for trace in traces:
        assert_rag_trace_arrived([s for s in spans if s["context"]["trace_id"] == trace.trace_id], trace)


def test_replay_over_grpc_reports_bad_lines_and_sends_the_rest(
    phoenix: PhoenixServer, tmp_path: Path
) -> None:
    path = tmp_path / "spans.jsonl"
    provider = provider_with(
        build_span_processor(
            load_config({"exporters": {"file": {"path": str(path)}, "batch": {"schedule_delay_ms": 50}}})
        )
    )
    trace = make_rag_trace(provider)
    provider.shutdown()
    with open(path, "a") as handle:
        handle.write('{"resourceSpans": [ not json\n')
    from spanguard.cli import main

    code = main(
        [
            "replay",
            str(path),
            "--endpoint",
            phoenix.grpc_endpoint,
            "--protocol",
            "grpc",
            "--project",
            "replayed-grpc",
        ]
    )
    assert code == 1  # a skipped line is reported, not silently lost
    spans = phoenix.wait_for_spans("replayed-grpc", 3)
    assert {s["context"]["trace_id"] for s in spans} == {trace.trace_id}


def test_oversize_span_is_cut_to_fit_and_does_not_poison_its_batch(phoenix: PhoenixServer) -> None:
    """A 5 MB attribute is over a gRPC server's 4 MiB message limit: sent as is, the whole
    batch would be refused. It must arrive cut, with the rest of its batch."""
    project = "oversize-grpc"
    config = load_config(
        {
            "truncation": {"enabled": False},  # so the span reaches the exporter at full size
            "exporters": {
                "phoenix": {"endpoint": phoenix.grpc_endpoint, "project": project, "protocol": "grpc"},
                "batch": {"schedule_delay_ms": 100},
            },
        }
    )
    processor = build_span_processor(config)
    provider = provider_with(processor)
    tracer = provider.get_tracer("spanguard.tests")
    with tracer.start_as_current_span("huge") as huge:
        huge.set_attribute("blob", "x" * 5_000_000)
        for index in range(3):
            with tracer.start_as_current_span(f"small-{index}"):
                pass
    provider.shutdown()
    spans = {span["name"]: span for span in phoenix.wait_for_spans(project, 4)}
    assert set(spans) == {"huge", "small-0", "small-1", "small-2"}
    blob = spans["huge"]["attributes"]["blob"]
    assert len(blob) < 4 * 1024 * 1024 and blob.startswith("xxx") and "truncated" in blob
    stats = processor_stats(processor)["phoenix"]
    assert (stats.exported, stats.oversize_truncated, stats.failed, stats.dropped) == (4, 1, 0, 0)
