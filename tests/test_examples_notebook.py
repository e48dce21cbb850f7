"""examples/tracing_tutorial.ipynb, executed cell by cell in a real Jupyter kernel (nbclient),
offline: the stand-in model and the hashing embedder; Part 5 sends to an OTLP/HTTP
receiver on loopback in Phoenix's place, named by PHOENIX_COLLECTOR_ENDPOINT."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
from support_pipeline import LoopbackHTTPServer

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "tracing_tutorial.ipynb"
PLANTED_EMAIL = "max.mustermann@example.org"

pytestmark = pytest.mark.slow


def _outputs(cell: Any) -> str:
    return "".join(str(output.get("text", "")) for output in cell.get("outputs", []))


def test_the_tutorial_notebook_runs_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat
    from nbclient import NotebookClient
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )

    received: list[ExportTraceServiceRequest] = []

    def handle(path: str, headers: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        if path != "/v1/traces":
            return 404, "text/plain", b"not found"
        request = ExportTraceServiceRequest()
        request.ParseFromString(gzip.decompress(body) if headers.get("content-encoding") == "gzip" else body)
        received.append(request)
        return 200, "application/x-protobuf", ExportTraceServiceResponse().SerializeToString()

    receiver = LoopbackHTTPServer(handle).start()
    monkeypatch.setenv("PHOENIX_COLLECTOR_ENDPOINT", receiver.base_url)
    monkeypatch.delenv("SPANGUARD_MODEL", raising=False)
    monkeypatch.delenv("SPANGUARD_CONFIG", raising=False)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    try:
        NotebookClient(
            notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    finally:
        receiver.stop()

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert not any(output.get("output_type") == "error" for cell in code for output in cell.outputs)
    printed = "\n".join(_outputs(cell) for cell in code)
    assert PLANTED_EMAIL not in printed
    assert "Number of finished spans : 1" in printed
    assert "contact': 'write to [REDACTED:email]'" in printed
    assert "retrieval.top_k: 5" in printed and "generation.context_chunk_count: 5" in printed
    assert "Answer: Submit expenses in the expenses tool" in printed
    assert "[('retrieval', 'RETRIEVER'), ('generation', 'LLM'), ('rag-pipeline', 'CHAIN')]" in printed
    assert "You may work from another country" in printed
    assert "agent_step" in printed and "chat_turn" in printed
    assert "planted e-mail in any span: False" in printed
    assert "Book all flights" in printed

    assert received, "Part 5 sent nothing to the endpoint"
    names = {
        span.name
        for request in received
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    }
    assert {"rag-pipeline", "retrieval", "generation"} <= names
    resource = {kv.key: kv.value.string_value for kv in received[0].resource_spans[0].resource.attributes}
    assert resource["openinference.project.name"] == "rag_tutorial"
    assert PLANTED_EMAIL.encode() not in b"".join(r.SerializeToString() for r in received)
