"""Bug 3 across processes: a span changed at two spanguard hops carries each summary key once.

A real Python OTel SDK app with spanguard's processor in-process (it redacts emails) exports
over OTLP/gRPC with the SDK's own exporter to a real sidecar process that redacts more (API
keys, a detector the app config lacks) and forwards to the stand-in receiver. OTLP forbids
duplicate attribute keys: the received span must have `spanguard.redacted.count` once, with
both hops' counts added, and one joined `spanguard.redacted.keys`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from support_receiver import ParseOnlyReceiver
from support_sidecar import sidecar_config, wait_for

from spanguard.api import build_span_processor
from spanguard.config import load_config

EMAIL = "jane.doe@example.com"
API_KEY = "sk-proj-Abc123def456GHI789jkl012MNO345"


def _received_spans(receiver: ParseOnlyReceiver) -> list[Any]:
    return [
        span
        for request in list(receiver.requests)
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]


@pytest.mark.slow
def test_app_and_sidecar_summaries_merge_into_one_key_each(
    tmp_path: Path, start_sidecar: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPANGUARD_ENABLED", raising=False)
    receiver = ParseOnlyReceiver(keep=True)
    try:
        exporters = {"otlp": {"endpoint": f"http://{receiver.address}", "protocol": "grpc", "timeout_s": 5}}
        sidecar = start_sidecar(
            sidecar_config(
                tmp_path,
                exporters=exporters,
                redaction={"detectors": ["email", "api_key"], "summary": "debug"},
            )
        )
        # the app: spanguard in-process, emails only, exporting with the SDK's OTLP exporter
        app_config = load_config({"redaction": {"detectors": ["email"], "summary": "debug"}})
        exporter = OTLPSpanExporter(endpoint=sidecar.grpc_address, insecure=True)
        processor = build_span_processor(app_config, exporters={"sidecar": exporter})
        provider = TracerProvider(resource=Resource.create({"service.name": "two-hops"}))
        provider.add_span_processor(processor)
        with provider.get_tracer("two-hops").start_as_current_span("llm call") as span:
            span.set_attribute("user.contact", f"mail {EMAIL}")
            span.set_attribute("input.value", f"my key is {API_KEY}")
            span.set_attribute("clean", "nothing to see")
        provider.shutdown()

        assert wait_for(lambda: len(_received_spans(receiver)) >= 1, timeout_s=30), sidecar.stderr_text()
        spans = _received_spans(receiver)
        assert len(spans) == 1
        received = spans[0]
        keys = Counter(kv.key for kv in received.attributes)
        assert all(count == 1 for count in keys.values()), keys  # no duplicate key at all
        attributes = {kv.key: kv.value for kv in received.attributes}
        assert attributes["spanguard.redacted.count"].int_value == 2  # 1 at the app + 1 at the sidecar
        # per-detector counts from both hops, each key once
        assert attributes["spanguard.redacted.email"].int_value == 1  # the app's
        assert attributes["spanguard.redacted.api_key"].int_value == 1  # the sidecar's
        listed = [v.string_value for v in attributes["spanguard.redacted.keys"].array_value.values]
        assert listed == ["input.value", "user.contact"]  # both hops' keys, joined
        assert attributes["user.contact"].string_value == "mail [REDACTED:email]"
        assert attributes["input.value"].string_value == "my key is [REDACTED:api_key]"
        assert EMAIL not in str(received) and API_KEY not in str(received)
        assert processor.stats.redacted == 1  # the app found the email, not the key
        assert processor.stats.exporters["sidecar"].exported == 1
        assert sidecar.terminate() == 0
    finally:
        receiver.stop()
