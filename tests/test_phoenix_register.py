"""spanguard on the TracerProvider that `phoenix.otel.register()` returns."""

from __future__ import annotations

import json

import pytest
from phoenix.otel import register
from support_phoenix import PhoenixServer
from support_spans import PLANTED_SECRETS, make_rag_trace

from spanguard.api import build_span_processor
from spanguard.config import load_config

pytestmark = pytest.mark.phoenix


def test_processor_replaces_registers_unredacted_default(phoenix: PhoenixServer) -> None:
    project = "registered-app"
    provider = register(
        endpoint=phoenix.http_traces_endpoint,
        project_name=project,
        set_global_tracer_provider=False,  # tests must not touch the process-wide provider
        verbose=False,
    )
    # register() installed its own exporting processor; add_span_processor's default
    # replace_default_processor=True removes it, so nothing leaves unredacted.
    config = load_config(
        {"exporters": {"phoenix": {"endpoint": phoenix.base_url}, "batch": {"schedule_delay_ms": 100}}}
    )
    provider.add_span_processor(build_span_processor(config))
    trace = make_rag_trace(provider)
    provider.shutdown()
    spans = phoenix.wait_for_spans(project, 3)
    assert len(spans) == 3  # once each: the default processor did not send a second copy
    assert {s["context"]["trace_id"] for s in spans} == {trace.trace_id}
    dumped = json.dumps(spans)
    for secret in PLANTED_SECRETS:
        assert secret not in dumped
    # no project in our config: the project register() put on the resource is kept
    assert all(s["context"]["trace_id"] != trace.trace_id for s in phoenix.spans("default"))
