"""Clients in Go and Java, with their SDKs' own OTLP exporters (gzip on), into a real
sidecar: every span arrives with the ids the client gave it, secrets redacted, numbers
untouched. The clients live in tests/interop/ and are built (once, cached) by tasks.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support_otelcol import go_client_binary, java_client_jar, run_interop_client
from support_sidecar import attributes_of, read_file_spans, sidecar_config, wait_for
from support_spans import PLANTED_SECRETS, SECRET_AWS_KEY, SECRET_CARD, SECRET_EMAIL

TRACES, SPANS_PER_TRACE = 6, 4
TEXT = f"card {SECRET_CARD}, mail {SECRET_EMAIL}, key {SECRET_AWS_KEY}: what is my limit?"


def _command(client: str, protocol: str, address: str) -> list[str]:
    flags = [
        "--protocol",
        protocol,
        "--endpoint",
        address,
        "--traces",
        str(TRACES),
        "--spans",
        str(SPANS_PER_TRACE),
        "--text",
        TEXT,
    ]
    if client == "go":
        return [str(go_client_binary()), *flags]
    return ["java", "-jar", str(java_client_jar()), *flags]


@pytest.mark.slow
@pytest.mark.parametrize("client", ["go", "java"])
@pytest.mark.parametrize(
    "protocol",
    [
        "grpc",
        # Go's otlptracehttp and Java's OtlpHttpSpanExporter send a gzipped body chunked.
        "http",
    ],
)
def test_client_spans_arrive_with_their_ids_redacted(
    client: str, protocol: str, tmp_path: Path, start_sidecar: Any
) -> None:
    sidecar = start_sidecar(sidecar_config(tmp_path))
    address = sidecar.grpc_address if protocol == "grpc" else sidecar.http_address
    sent = run_interop_client(_command(client, protocol, address))
    assert len(sent) == TRACES * SPANS_PER_TRACE
    # a refused export may not fail the client (Java's flush reports success): look here
    refused = {
        key: value
        for key, value in sidecar.metrics().items()
        if key.startswith("spanguard_sidecar_requests_rejected")
    }
    assert not any(refused.values()), refused

    out = tmp_path / "out.jsonl"
    assert wait_for(lambda: len(read_file_spans(out)) >= len(sent))
    spans = read_file_spans(out)
    by_id = {(s["traceId"], s["spanId"]): s for s in spans}
    assert len(spans) == len(by_id) == len(sent)
    roots: dict[str, str] = {}
    for item in sent:
        span = by_id[(item["trace_id"], item["span_id"])]
        attrs = attributes_of(span)
        assert attrs["seq"] == item["seq"]
        assert attrs["llm.token_count.total"] == 1234
        assert attrs["llm.temperature"] == 0.25
        assert attrs["input.value"].endswith("what is my limit?")
        if not span.get("parentSpanId"):
            roots[item["trace_id"]] = item["span_id"]
    assert len(roots) == TRACES
    for span in spans:  # every child points at its trace's root
        assert span.get("parentSpanId", roots[span["traceId"]]) == roots[span["traceId"]]
    text = out.read_text()
    assert not any(secret in text for secret in PLANTED_SECRETS)
    assert f'"{client}"' in text  # the client's resource (client.language) came through
    received = f'spanguard_sidecar_spans_received_total{{protocol="{protocol}"}}'
    assert sidecar.metrics()[received] == len(sent)
    assert sidecar.terminate() == 0
    assert not any(secret in sidecar.stderr_text() for secret in PLANTED_SECRETS)
