"""The Node.js OpenTelemetry SDK's own OTLP trace exporters as clients of the sidecar:
gRPC, http/protobuf and http/json, each plain and gzip. Node streams its HTTP bodies
chunked, the case that once lost every export. Every span must arrive, with the ids Node
generated, and the e-mail address in each span redacted by the default rules.

The exporters come from tests/interop/node (package.json + package-lock.json), installed
with `npm ci` by `python3 tasks.py test`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support_sidecar import attributes_of, read_file_spans, sidecar_config, wait_for

NODE_DIR = Path(__file__).parent / "interop" / "node"
COUNT = 120  # more than two batches of the SDK's BatchSpanProcessor (50 each here)
TOKEN = "node-interop-token"


@pytest.fixture(scope="module", autouse=True)
def node_exporters() -> None:
    """The suite's command installs them; a missing install is a failure, not a skip."""
    assert shutil.which("node"), "these tests need Node.js (node) on PATH"
    assert (NODE_DIR / "node_modules" / "@opentelemetry").is_dir(), (
        "run `python3 tasks.py test` (or `npm ci` in tests/interop/node) first"
    )


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["grpc", "proto", "json"])
@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_node_sdk_exporter_delivers_every_span_with_its_ids_and_redacted(
    kind: str, compression: str, tmp_path: Path, start_sidecar: Any
) -> None:
    sidecar = start_sidecar(sidecar_config(tmp_path, auth={"bearer_token": TOKEN}))
    url = f"http://{sidecar.grpc_address}" if kind == "grpc" else f"{sidecar.http_url}/v1/traces"
    done = subprocess.run(
        ["node", "export_spans.cjs", kind, url, compression, str(COUNT), TOKEN],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["results"] and set(report["results"]) == {0}  # ExportResultCode.SUCCESS
    sent = {entry["seq"]: (entry["traceId"], entry["spanId"]) for entry in report["ids"]}
    assert len(sent) == COUNT
    out = tmp_path / "out.jsonl"
    assert wait_for(lambda: len(read_file_spans(out)) >= COUNT)
    spans = read_file_spans(out)
    got = {int(attributes_of(s)["seq"]): (s["traceId"], s["spanId"]) for s in spans}
    assert got == sent
    for span in spans:
        text = attributes_of(span)["input.value"]
        assert "@example.com" not in text
        assert text.startswith("mail me at ")
    assert f'service.name","value":{{"stringValue":"node-{kind}-{compression}' in out.read_text()
