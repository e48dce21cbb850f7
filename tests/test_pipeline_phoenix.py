"""A chat turn exported to a real Phoenix server through the configured `phoenix` exporter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support_phoenix import PhoenixServer

EMAIL = "erika.musterfrau@example.com"


@pytest.mark.phoenix
@pytest.mark.slow
def test_turn_reaches_phoenix_as_one_redacted_session_trace(
    phoenix: PhoenixServer, pipeline_data_dir: Path, handbook_retriever: Any
) -> None:
    from spanguard.config import load_config
    from spanguard.pipeline.runtime import build_runtime

    project = "spanguard-pipeline-test"
    config = load_config(
        {
            "exporters": {"phoenix": {"endpoint": phoenix.base_url, "project": project}},
            "pipeline": {"data_dir": str(pipeline_data_dir)},
        }
    )
    runtime = build_runtime(config, retriever=handbook_retriever, environ={})
    try:
        result = runtime.agent.run(
            [{"role": "user", "content": f"How long must passwords be? Answer to {EMAIL}"}],
            session_id="session_phoenix_1",
        )
    finally:
        runtime.shutdown()  # flushes the exporter queue
    assert "14 characters" in result.answer

    spans = phoenix.wait_for_spans(project, count=5)
    kinds = sorted(str(s["span_kind"]).upper() for s in spans)
    assert kinds == ["AGENT", "LLM", "LLM", "RETRIEVER", "TOOL"]
    assert len({s["context"]["trace_id"] for s in spans}) == 1
    for span in spans:
        attributes = span["attributes"]
        session = attributes.get("session.id") or attributes.get("session", {}).get("id")
        assert session == "session_phoenix_1"
    stored = json.dumps(spans)
    assert EMAIL not in stored
    assert "[REDACTED:email]" in stored
