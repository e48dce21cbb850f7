"""The issue-14 rules in a real sidecar process: an OpenTelemetry SDK client sends over
OTLP/gRPC, the sidecar redacts, the file exporter writes what left."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from support_sidecar import attributes_of, read_file_spans, sidecar_config, wait_for

EMAIL = "jane.doe@example.com"
CHAT = {
    "messages": [
        {"role": "system", "content": "rules " * 400},
        {"role": "user", "content": f"I am {EMAIL}, what is my limit?"},
    ],
    "user_info": {"given_name": "Jane"},
}


@pytest.mark.slow
def test_sidecar_applies_json_rules_hide_presets_numbers_sql_and_urls(
    tmp_path: Path, start_sidecar: Any
) -> None:
    config = sidecar_config(
        tmp_path,
        redaction={"block_keys": ["*.given_name"], "hide": ["output_text"]},
        truncation={"max_length": 1200},
    )
    # the OpenInference variable reaches the sidecar as it reaches an instrumented app
    sidecar = start_sidecar(config, env={"OPENINFERENCE_HIDE_LLM_INVOCATION_PARAMETERS": "true"})
    provider = TracerProvider(resource=Resource.create({"service.name": "rules-client"}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=sidecar.grpc_address, insecure=True))
    )
    with provider.get_tracer("rules").start_as_current_span("llm") as span:
        span.set_attributes(
            {
                "input.value": json.dumps(CHAT),
                "input.mime_type": "application/json",
                "llm.output_messages.0.message.content": "the answer",
                "llm.invocation_parameters": '{"temperature": 0.1}',
                "payment.card": 4111111111111111,
                "db.statement": "SELECT * FROM users WHERE email = 'x@y.io' AND id = 7",
                "http.url": "https://api.example.com/v1?api_key=abc123XYZ&page=2",
                "user.id": EMAIL,
            }
        )
    provider.shutdown()
    out = tmp_path / "out.jsonl"
    assert wait_for(lambda: len(read_file_spans(out)) >= 1)
    (exported,) = read_file_spans(out)
    attrs = attributes_of(exported)
    value = attrs["input.value"]
    assert len(value) <= 1200
    chat = json.loads(value)  # cut inside its leaves: still JSON, last message kept
    assert chat["messages"][1]["content"] == "I am [REDACTED:email], what is my limit?"
    assert chat["messages"][0]["content"].endswith("[truncated 2400 chars]")
    assert chat["user_info"] == {"given_name": "[REDACTED:blocked]"}
    assert attrs["llm.output_messages.0.message.content"] == "[REDACTED:hidden]"
    assert "llm.invocation_parameters" not in attrs
    assert attrs["payment.card"] == "[REDACTED:credit_card]"
    assert attrs["db.statement"] == "SELECT * FROM users WHERE email = ? AND id = ?"
    assert attrs["http.url"] == "https://api.example.com/v1?api_key=[REDACTED:url_secret]&page=2"
    assert attrs["user.id"].startswith("[email:")
    assert attrs["spanguard.redacted.email"] == 2  # input.value and user.id
    text = out.read_text()
    assert EMAIL not in text and "4111111111111111" not in text and "abc123XYZ" not in text
    assert sidecar.terminate() == 0
