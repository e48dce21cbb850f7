"""`bench-pipeline`: run every benchmark question with tracing on, read latency back
from the spans, print a table and draw a bar chart.

The numbers come from the exported spans (after spanguard's processing), not from
timers around the calls: the point is to show what a Phoenix user would see per turn,
retrieval (RETRIEVER spans) against generation (LLM spans).
"""

from __future__ import annotations

import contextlib
import csv
import os
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanguard.config.model import SpanguardConfig
from spanguard.errors import SpanguardError
from spanguard.pipeline.agent import AgentError
from spanguard.pipeline.runtime import build_runtime
from spanguard.pipeline.tracing import build_tracer_provider

CHART_FILE = "pipeline_latency.png"
TABLE_FILE = "pipeline_latency.csv"
_KIND = "openinference.span.kind"


@dataclass
class BenchRow:
    query: str
    retrieval_ms: float
    generation_ms: float
    total_ms: float
    llm_calls: int
    status: str


def _ms(span: ReadableSpan) -> float:
    return ((span.end_time or 0) - (span.start_time or 0)) / 1e6


def rows_from_spans(
    queries: Sequence[str],
    session_ids: Sequence[str],
    spans: Sequence[ReadableSpan],
    failures: dict[str, str],
) -> list[BenchRow]:
    """One row per query, matched to its spans by the session id each turn ran under."""
    by_session: dict[str, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        session = (span.attributes or {}).get("session.id")
        if isinstance(session, str):
            by_session[session].append(span)
    rows: list[BenchRow] = []
    for query, session in zip(queries, session_ids, strict=True):
        turn = by_session.get(session, [])
        kinds = [(span, (span.attributes or {}).get(_KIND)) for span in turn]
        agent = [span for span, kind in kinds if kind == "AGENT"]
        rows.append(
            BenchRow(
                query=query,
                retrieval_ms=sum(_ms(span) for span, kind in kinds if kind == "RETRIEVER"),
                generation_ms=sum(_ms(span) for span, kind in kinds if kind == "LLM"),
                total_ms=_ms(agent[0]) if agent else 0.0,
                llm_calls=sum(1 for _, kind in kinds if kind == "LLM"),
                status=failures.get(session, "ok"),
            )
        )
    return rows


def run_benchmark(config: SpanguardConfig, queries: Sequence[str]) -> list[BenchRow]:
    """Run each query as its own session through the agent; spans also reach the
    configured exporters, so the run shows up in Phoenix when one is configured."""
    from spanguard.exporters.factory import build_exporters

    memory = InMemorySpanExporter()
    exporters = {**build_exporters(config.exporters), "bench-memory": memory}
    provider = build_tracer_provider(config, exporters=exporters)
    runtime = build_runtime(config, provider=provider)
    stamp = int(time.time())
    session_ids = [f"bench_{stamp}_{index:03d}" for index in range(len(queries))]
    failures: dict[str, str] = {}
    try:
        # LiteLLM's first call pays one-off lazy imports (seconds); keep that out of row 1
        with contextlib.suppress(AgentError):
            runtime.agent.run([{"role": "user", "content": queries[0]}], session_id=f"bench_{stamp}_warmup")
        for query, session in zip(queries, session_ids, strict=True):
            try:
                runtime.agent.run([{"role": "user", "content": query}], session_id=session)
            except AgentError as exc:
                failures[session] = f"error: {type(exc).__name__}"
        provider.force_flush()
        spans = list(memory.get_finished_spans())
    finally:
        provider.shutdown()
    return rows_from_spans(queries, session_ids, spans, failures)


def format_table(rows: Sequence[BenchRow], query_width: int = 56) -> str:
    header = (
        f"{'#':>3}  {'retrieval ms':>12}  {'generation ms':>13}  {'turn ms':>9}  {'llm':>3}  "
        f"{'status':<8}  query"
    )
    lines = [header, "-" * len(header)]
    for index, row in enumerate(rows, 1):
        query = row.query if len(row.query) <= query_width else row.query[: query_width - 1] + "…"
        lines.append(
            f"{index:>3}  {row.retrieval_ms:>12.2f}  {row.generation_ms:>13.2f}  "
            f"{row.total_ms:>9.2f}  "
            f"{row.llm_calls:>3}  {row.status:<8}  {query}"
        )
    if rows:
        count = len(rows)
        lines.append("-" * len(header))
        lines.append(
            f"{'avg':>3}  {sum(r.retrieval_ms for r in rows) / count:>12.2f}  "
            f"{sum(r.generation_ms for r in rows) / count:>13.2f}  "
            f"{sum(r.total_ms for r in rows) / count:>9.2f}"
        )
    return "\n".join(lines)


def write_outputs(rows: Sequence[BenchRow], out_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The CSV table and the PNG bar chart; returns their paths."""
    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SpanguardError(f"cannot create output directory {folder}: {exc.strerror}") from None
    table_path = folder / TABLE_FILE
    with table_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["query", "retrieval_ms", "generation_ms", "turn_ms", "llm_calls", "status"])
        for row in rows:
            writer.writerow(
                [
                    row.query,
                    f"{row.retrieval_ms:.3f}",
                    f"{row.generation_ms:.3f}",
                    f"{row.total_ms:.3f}",
                    row.llm_calls,
                    row.status,
                ]
            )
    chart_path = folder / CHART_FILE
    _draw_chart(rows, chart_path)
    return table_path, chart_path


def _draw_chart(rows: Sequence[BenchRow], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in CI
    import matplotlib.pyplot as plt

    labels = [f"{i}. {r.query[:40]}{'…' if len(r.query) > 40 else ''}" for i, r in enumerate(rows, 1)]
    positions = list(range(len(rows)))
    height = 0.4
    figure, axes = plt.subplots(figsize=(10, max(3.0, 0.45 * len(rows) + 1.5)))
    axes.barh(
        [p - height / 2 for p in positions],
        [r.retrieval_ms for r in rows],
        height,
        label="retrieval (RETRIEVER spans)",
        color="#2a9d8f",
    )
    axes.barh(
        [p + height / 2 for p in positions],
        [r.generation_ms for r in rows],
        height,
        label="generation (LLM spans)",
        color="#e76f51",
    )
    axes.set_yticks(positions, labels, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("milliseconds (from span durations)")
    axes.set_title("spanguard reference pipeline: latency per query")
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
