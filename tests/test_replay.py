"""`spanguard replay` without a backend: file order, packing, project stamping, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from support_phoenix import free_port
from support_spans import PLANTED_SECRETS, finished_spans, make_rag_trace, provider_with

from spanguard.api import build_span_processor
from spanguard.cli import main
from spanguard.config import load_config
from spanguard.exporters.otlp import PROJECT_ATTRIBUTE
from spanguard.exporters.replay import (
    ReplaySummary,
    count_spans,
    order_files,
    pack_requests,
    read_resource_spans,
)


def test_rotated_files_are_replayed_oldest_first() -> None:
    given = ["t/spans.jsonl", "t/spans.jsonl.1", "t/spans.jsonl.10", "t/spans.jsonl.2", "other.jsonl"]
    assert [str(p) for p in order_files(given)] == [
        "t/spans.jsonl.10",
        "t/spans.jsonl.2",
        "t/spans.jsonl.1",
        "t/spans.jsonl",
        "other.jsonl",
    ]


def test_requests_are_packed_under_the_limit_and_stamped_with_the_project(tmp_path: Path) -> None:
    from spanguard.exporters.otlp_json import encode_traces_json_line

    path = tmp_path / "spans.jsonl"
    lines = [encode_traces_json_line(encode_spans(finished_spans(5, pad="p" * 2000))) for _ in range(10)]
    path.write_text("\n".join(lines) + "\n")
    summary = ReplaySummary()
    requests = list(pack_requests(read_resource_spans([path], summary), 25_000, project="proj"))
    assert summary.lines == 10 and not summary.bad_lines
    assert sum(count_spans(r) for r in requests) == 50
    assert len(requests) > 1
    assert all(r.ByteSize() <= 25_000 + 12_000 for r in requests)
    for request in requests:
        for rs in request.resource_spans:
            values = [kv.value.string_value for kv in rs.resource.attributes if kv.key == PROJECT_ATTRIBUTE]
            assert values == ["proj"]


def test_replay_to_dead_endpoint_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "spans.jsonl"
    provider = provider_with(build_span_processor(load_config({"exporters": {"file": {"path": str(path)}}})))
    make_rag_trace(provider)
    provider.shutdown()
    code = main(["replay", str(path), "--endpoint", f"http://127.0.0.1:{free_port()}", "--timeout", "1"])
    assert code == 1
    err = capsys.readouterr().err
    assert "replay stopped after 0 spans" in err and "ConnectError" in err
    for secret in PLANTED_SECRETS:
        assert secret not in err


def test_missing_file_and_bad_header_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(tmp_path / "nope.jsonl"), "--endpoint", "http://127.0.0.1:9"]) == 1
    assert "cannot read" in capsys.readouterr().err
    path = tmp_path / "x.jsonl"
    path.write_text("")
    # curl's `Name: value` spelling: the whole argument may be a credential, never echo it
    header = "Authorization: Bearer sk-live-0123456789abcdef"
    assert main(["replay", str(path), "--endpoint", "http://127.0.0.1:9", "--header", header]) == 1
    err = capsys.readouterr().err
    assert "--header needs NAME=VALUE" in err
    assert "sk-live-0123456789abcdef" not in err and "Authorization" not in err


def test_oversize_line_is_split_into_requests_under_the_limit() -> None:
    """One file line is one exported batch and may exceed a gRPC server's 4 MiB limit;
    replay must split it by span rather than send a request that is refused every time."""
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans

    spans = finished_spans(60, pad="p" * 2000)
    (whole,) = encode_spans(spans).resource_spans  # one resource, one scope, 60 spans
    assert whole.ByteSize() > 4 * 25_000
    requests = list(pack_requests([ResourceSpans.FromString(whole.SerializeToString())], 25_000, "proj"))
    assert len(requests) >= 4
    assert all(r.ByteSize() <= 25_000 for r in requests)
    sent = [
        span.span_id
        for r in requests
        for rs in r.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]
    assert sorted(sent) == sorted(span.span_id for ss in whole.scope_spans for span in ss.spans)
    for request in requests:
        for rs in request.resource_spans:
            attributes = {kv.key: kv.value.string_value for kv in rs.resource.attributes}
            assert attributes[PROJECT_ATTRIBUTE] == "proj"
            assert attributes["service.name"] == "spanguard-tests"
            assert [ss.scope.name for ss in rs.scope_spans] == ["spanguard.tests"]


def test_endpoint_credentials_are_not_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "spans.jsonl"
    provider = provider_with(build_span_processor(load_config({"exporters": {"file": {"path": str(path)}}})))
    make_rag_trace(provider)
    provider.shutdown()
    endpoint = f"http://user:pa55word@127.0.0.1:{free_port()}/?token=t0ken"
    assert main(["replay", str(path), "--endpoint", endpoint, "--timeout", "1"]) == 1
    err = capsys.readouterr().err
    assert "replay stopped after 0 spans" in err and "127.0.0.1" in err
    assert "pa55word" not in err and "t0ken" not in err
