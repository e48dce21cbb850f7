"""Sidecar -> a real Phoenix server, over OTLP/HTTP and OTLP/gRPC, filed under the project."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support_sidecar import grpc_export, make_request, sidecar_config

SECRET = "reach me at jane.doe@example.com"


@pytest.mark.phoenix
@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_sidecar_delivers_redacted_spans_to_phoenix_project(
    protocol: str, tmp_path: Path, start_sidecar: Any, phoenix: Any
) -> None:
    project = f"sidecar-{protocol.replace('/', '-')}"
    endpoint = phoenix.base_url if protocol == "http/protobuf" else f"http://{phoenix.grpc_endpoint}"
    exporters = {"phoenix": {"endpoint": endpoint, "project": project, "protocol": protocol}}
    sidecar = start_sidecar(sidecar_config(tmp_path, exporters=exporters))
    # Phoenix keeps a span id once across projects: each case sends ids of its own
    first = 1000 if protocol == "grpc" else 2000
    seqs = list(range(first, first + 5))
    assert grpc_export(sidecar.grpc_address, make_request(seqs, text=SECRET)).name == "OK"
    spans = phoenix.wait_for_spans(project, count=5, timeout_s=60)
    assert sorted(span["name"] for span in spans) == [f"span-{i}" for i in seqs]
    for span in spans:
        text = str(span["attributes"])
        assert "jane.doe@example.com" not in text
        assert "reach me at" in text
    assert sidecar.terminate() == 0
