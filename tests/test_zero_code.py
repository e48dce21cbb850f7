"""Zero-code, the standard way: `opentelemetry-instrument` with spanguard as the distro,
a real OTLP/gRPC receiver downstream, and only cleaned spans arriving.

`OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=*` keeps the installed instrumentors (the
LiteLLM one imports LiteLLM) out, so the app can check that spanguard's own path
imports no LiteLLM, Chroma or pipeline.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from google.protobuf.json_format import MessageToJson
from support_instrument import assert_no_secrets, run_instrumented
from support_receiver import ParseOnlyReceiver
from support_spans import SECRET_CARD, SECRET_EMAIL

pytestmark = pytest.mark.slow

HEAVY = ("litellm", "chromadb", "spanguard.pipeline", "fastapi", "matplotlib")
APP = f"""
import json, sys
from opentelemetry import trace

tracer = trace.get_tracer("tiny-app")
with tracer.start_as_current_span("handle-request") as span:
    span.set_attribute("input.value", "reach me at {SECRET_EMAIL}, card {SECRET_CARD}")
    with tracer.start_as_current_span("child") as child:
        child.add_event("note", {{"text": "cc {SECRET_EMAIL}"}})
print("HEAVY=" + json.dumps([name for name in {HEAVY!r} if name in sys.modules]))
print("app done")
"""


def _run(tmp_path: Path, **overrides: str) -> tuple[subprocess.CompletedProcess[str], str, int]:
    """The app under `opentelemetry-instrument` with a receiver of its own downstream:
    the run, what the receiver got (as JSON) and how many spans it counted."""
    receiver = ParseOnlyReceiver(keep=True)
    try:
        result = _instrumented(tmp_path, receiver, **overrides)
        received = "".join(MessageToJson(request) for request in receiver.requests)
    finally:
        receiver.stop()
    return result, received, receiver.spans


def _instrumented(
    tmp_path: Path, receiver: ParseOnlyReceiver, **overrides: str
) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OTEL_", "SPANGUARD_", "PHOENIX_"))
    }
    env.update(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{receiver.address}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_SERVICE_NAME": "tiny-app",
            "OTEL_RESOURCE_ATTRIBUTES": f"owner.contact={SECRET_EMAIL}",
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "*",
            **overrides,
        }
    )
    return run_instrumented(tmp_path, APP, env)


def test_distro_guards_otlp_and_console(tmp_path: Path) -> None:
    result, received, spans = _run(
        tmp_path,
        OTEL_PYTHON_DISTRO="spanguard",
        OTEL_PYTHON_CONFIGURATOR="spanguard",
        OTEL_TRACES_EXPORTER="otlp,console",
    )
    assert spans == 2
    assert_no_secrets(received, result.stdout, result.stderr)
    assert "[REDACTED:email]" in received and "[REDACTED:credit_card]" in received
    assert '"handle-request"' in result.stdout and "[REDACTED:email]" in result.stdout  # SDK console
    assert json.loads(result.stdout.split("HEAVY=", 1)[1].splitlines()[0]) == []


def test_distro_alone_implies_the_configurator_and_otlp(tmp_path: Path) -> None:
    result, received, spans = _run(tmp_path, OTEL_PYTHON_DISTRO="spanguard")
    assert spans == 2
    assert_no_secrets(received, result.stdout, result.stderr)
    assert "[REDACTED:email]" in received


def _plain_sdk_configurator(tmp_path: Path) -> Path:
    """A dist-info that registers the SDK's own configurator (what opentelemetry-distro
    does), so the run below is the SDK's setup with no spanguard configurator."""
    site = tmp_path / "plain-sdk"
    info = site / "plain_sdk_configurator-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: plain-sdk-configurator\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[opentelemetry_configurator]\nplainsdk = opentelemetry.sdk._configuration:_OTelSDKConfigurator\n"
    )
    return site


@pytest.mark.parametrize("exporters", ["spanguard,otlp", "otlp,spanguard"])
def test_spanguard_next_to_otlp_never_delivers_raw_spans(tmp_path: Path, exporters: str) -> None:
    config = tmp_path / "spanguard.yaml"
    config.write_text(
        "exporters:\n  file: {path: " + str(tmp_path / "spans.jsonl") + "}\n"
        "  batch: {schedule_delay_ms: 100}\n"
    )
    result, received, spans = _run(
        tmp_path,
        OTEL_TRACES_EXPORTER=exporters,
        SPANGUARD_CONFIG=str(config),
        OTEL_PYTHON_DISTRO="none",
        OTEL_PYTHON_CONFIGURATOR="plainsdk",
        PYTHONPATH=str(_plain_sdk_configurator(tmp_path)),
    )
    assert spans == 2  # guarded, not refused: otlp still gets the (clean) spans
    assert_no_secrets(received, result.stdout, result.stderr, (tmp_path / "spans.jsonl").read_text())
    assert "[REDACTED:email]" in received


def test_a_broken_config_exports_nothing_anywhere(tmp_path: Path) -> None:
    bad = tmp_path / "spanguard.yaml"
    bad.write_text("redaction:\n  detectors: [no_such_detector]\n")
    result, _, spans = _run(
        tmp_path,
        OTEL_PYTHON_DISTRO="spanguard",
        SPANGUARD_CONFIG=str(bad),
        OTEL_TRACES_EXPORTER="otlp,console",
    )
    assert spans == 0
    assert "tracing export is off until this is fixed" in result.stderr
    assert_no_secrets(result.stdout, result.stderr)


def test_export_off_switch(tmp_path: Path) -> None:
    result, _, spans = _run(tmp_path, OTEL_PYTHON_DISTRO="spanguard", SPANGUARD_ENABLED="false")
    assert spans == 0
    assert_no_secrets(result.stdout, result.stderr)
