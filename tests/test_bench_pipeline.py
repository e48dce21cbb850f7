"""`spanguard bench-pipeline` prints its per-query table and writes the CSV and PNG."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from support_pipeline import TracedPipeline

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_bench_pipeline_writes_table_and_chart(
    tmp_path: Path, pipeline_data_dir: Path, handbook_retriever: object, capsys: pytest.CaptureFixture[str]
) -> None:
    from spanguard.cli import main

    queries = tmp_path / "queries.txt"
    queries.write_text(
        "# three questions\nHow long must passwords be?\n\nHow long does probation last?\n"
        "What is the capital of Australia?\n",
        encoding="utf-8",
    )
    config = tmp_path / "spanguard.yaml"
    config.write_text(f"exporters: {{}}\npipeline:\n  data_dir: {pipeline_data_dir}\n", encoding="utf-8")
    out = tmp_path / "out"

    code = main(["bench-pipeline", "--queries", str(queries), "--out", str(out), "--config", str(config)])

    printed = capsys.readouterr().out
    assert code == 0, printed
    header, _rule, *rows = printed.splitlines()
    assert "retrieval ms" in header and "generation ms" in header
    assert rows[0].split()[0] == "1" and rows[0].endswith("How long must passwords be?")
    assert rows[2].endswith("What is the capital of Australia?")
    with (out / "pipeline_latency.csv").open(encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert [row["query"] for row in table] == [
        "How long must passwords be?",
        "How long does probation last?",
        "What is the capital of Australia?",
    ]
    for row in table:
        assert row["status"] == "ok"
        assert float(row["retrieval_ms"]) > 0 and float(row["generation_ms"]) > 0
        assert float(row["turn_ms"]) >= float(row["retrieval_ms"]) + float(row["generation_ms"])
        assert row["llm_calls"] == "2"
    chart = out / "pipeline_latency.png"
    assert chart.read_bytes()[:8] == PNG_MAGIC and chart.stat().st_size > 5000


def test_rows_come_from_span_durations(traced_pipeline: TracedPipeline) -> None:
    from spanguard.pipeline.bench import format_table, rows_from_spans

    traced_pipeline.runtime.agent.run(
        [{"role": "user", "content": "How long must passwords be?"}], session_id="bench_x_000"
    )
    spans = traced_pipeline.spans()
    [row] = rows_from_spans(["How long must passwords be?"], ["bench_x_000"], spans, {})
    retriever = next(s for s in spans if (s.attributes or {}).get("openinference.span.kind") == "RETRIEVER")
    assert row.retrieval_ms == pytest.approx(((retriever.end_time or 0) - (retriever.start_time or 0)) / 1e6)
    assert row.llm_calls == 2
    assert "avg" in format_table([row])


def test_missing_queries_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from spanguard.cli import main

    code = main(["bench-pipeline", "--queries", str(tmp_path / "nope.txt"), "--out", str(tmp_path)])
    assert code == 1
    assert "cannot read queries file" in capsys.readouterr().err
