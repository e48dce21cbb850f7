"""The wiring users really do, against a real Phoenix: `register()` + their own OTLP
processors (added before and after) + `spanguard.guard(provider)`."""

from __future__ import annotations

import json

import pytest
from google.protobuf.json_format import MessageToJson
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from phoenix.otel import register
from support_phoenix import PhoenixServer
from support_receiver import ParseOnlyReceiver
from support_spans import PLANTED_SECRETS, make_rag_trace

import spanguard

pytestmark = pytest.mark.phoenix


def _own_processor(receiver: ParseOnlyReceiver) -> BatchSpanProcessor:
    """What the Phoenix setup seed adds next to register's: a BatchSpanProcessor(OTLPSpanExporter)."""
    return BatchSpanProcessor(
        OTLPSpanExporter(endpoint=receiver.address, insecure=True), schedule_delay_millis=100
    )


def test_register_plus_own_processors_hold_only_redacted_spans(
    phoenix: PhoenixServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPANGUARD_ENABLED", raising=False)
    project = "guarded-register"
    before, after = ParseOnlyReceiver(keep=True), ParseOnlyReceiver(keep=True)
    try:
        provider = register(
            endpoint=phoenix.http_traces_endpoint,
            project_name=project,
            set_global_tracer_provider=False,
            verbose=False,
        )
        provider.add_span_processor(_own_processor(before), replace_default_processor=False)
        handle = spanguard.guard(provider)
        provider.add_span_processor(_own_processor(after), replace_default_processor=False)
        assert len(provider._active_span_processor._span_processors) == 3  # guard added none
        trace = make_rag_trace(provider)
        provider.shutdown()

        spans = phoenix.wait_for_spans(project, 3)
        assert len(spans) == 3 and {s["context"]["trace_id"] for s in spans} == {trace.trace_id}
        dumped = json.dumps(spans)
        for secret in PLANTED_SECRETS:
            assert secret not in dumped
        assert "[REDACTED:credit_card]" in dumped and "[REDACTED:email]" in dumped
        assert all(s["context"]["trace_id"] != trace.trace_id for s in phoenix.spans("default"))

        for receiver in (before, after):
            assert receiver.spans == 3
            text = "".join(MessageToJson(request) for request in receiver.requests)
            for secret in PLANTED_SECRETS:
                assert secret not in text
            assert "[REDACTED:email]" in text
            projects = {
                kv.value.string_value
                for request in receiver.requests
                for rs in request.resource_spans
                for kv in rs.resource.attributes
                if kv.key == "openinference.project.name"
            }
            assert projects == {project}
        assert handle.stats.spans == 3 and handle.stats.redacted >= 5
    finally:
        before.stop()
        after.stop()
