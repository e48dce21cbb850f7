"""With no `exporters:` in the config, spans go where the standard variables say."""

from __future__ import annotations

import logging

import pytest
from support_receiver import ParseOnlyReceiver
from support_spans import PLANTED_SECRETS, make_rag_trace, provider_with

from spanguard.api import build_span_processor, fanout_of
from spanguard.config import load_config
from spanguard.exporters.destinations import describe, effective_exporters, parse_otlp_headers


def test_config_exporters_win_over_the_environment() -> None:
    config = load_config({"exporters": {"file": {"path": "x.jsonl"}}})
    chosen, source = effective_exporters(config, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert source == "config" and chosen.file is not None and chosen.otlp is None


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "console"),
        (
            {"PHOENIX_COLLECTOR_ENDPOINT": "http://phx:6006"},
            "phoenix http://phx:6006/v1/traces (project default)",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://user:pw@c:4318?token=t"},
            "otlp http://***@c:4318/v1/traces",
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "c:4317",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "PHOENIX_COLLECTOR_ENDPOINT": "http://phx:6006",
            },
            "otlp c:4317",
        ),
    ],
)
def test_no_exporters_key_follows_the_environment(environ: dict[str, str], expected: str) -> None:
    chosen, _ = effective_exporters(load_config({}), environ)
    assert describe(chosen, environ) == expected


def test_otlp_headers_are_parsed_as_the_spec_writes_them() -> None:
    assert parse_otlp_headers("api-key=a%20b, x=1,broken") == {"api-key": "a b", "x": "1"}


def test_spans_reach_the_otlp_endpoint_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = ParseOnlyReceiver(keep=True)
    try:
        monkeypatch.delenv("SPANGUARD_ENABLED", raising=False)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://{receiver.address}")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        with caplog.at_level(logging.INFO, logger="spanguard"):
            processor = build_span_processor({})
        lines = [r.getMessage() for r in caplog.records if "spans go to" in r.getMessage()]
        assert lines == [f"spanguard: spans go to otlp {receiver.address} (OTEL_EXPORTER_OTLP_*)"]
        provider = provider_with(processor)
        make_rag_trace(provider)
        provider.shutdown()
        assert receiver.spans == 3
        assert fanout_of(processor) is not None
        text = "".join(str(request) for request in receiver.requests)
        assert all(secret not in text for secret in PLANTED_SECRETS)
    finally:
        receiver.stop()


def test_console_fallback_is_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name in (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "PHOENIX_COLLECTOR_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    with caplog.at_level(logging.INFO, logger="spanguard"):
        build_span_processor({}).shutdown()
    (record,) = [r for r in caplog.records if "spans go to" in r.getMessage()]
    assert record.levelno == logging.WARNING and "console" in record.getMessage()
