"""One sidecar, several Phoenix projects: a project on a client's resource wins.

Real parts: a `spanguard sidecar` process, clients that are the OpenTelemetry Python
SDK with its OTLP/HTTP exporter, and (in the Phoenix test) a real `phoenix serve`; the
fast test's downstream is the parse-only gRPC receiver, which records what arrived.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from support_receiver import ParseOnlyReceiver
from support_sidecar import sidecar_config, wait_for

PROJECT = "openinference.project.name"


def _send_from_client(sidecar_http: str, service: str, project: str | None, names: list[str]) -> None:
    """An app with its own TracerProvider exporting to the sidecar as any OTLP client does."""
    attributes = {"service.name": service}
    if project is not None:
        attributes[PROJECT] = project
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{sidecar_http}/v1/traces")))
    tracer = provider.get_tracer("project-test")
    for name in names:
        with tracer.start_as_current_span(name):
            pass
    provider.shutdown()


def _projects_by_service(receiver: ParseOnlyReceiver) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for request in receiver.requests:
        for rs in request.resource_spans:
            attrs = [(kv.key, kv.value.string_value) for kv in rs.resource.attributes]
            service = dict(attrs)["service.name"]
            projects = [value for key, value in attrs if key == PROJECT]
            assert len(projects) == 1, attrs  # set once, never twice
            seen.setdefault(service, set()).add(projects[0])
    return seen


@pytest.mark.parametrize("configured_by", ["config", "environment"])
def test_client_project_wins_and_the_configured_one_fills_the_rest(
    configured_by: str, tmp_path: Path, start_sidecar: Any
) -> None:
    receiver = ParseOnlyReceiver(keep=True)
    try:
        phoenix: dict[str, Any] = {
            "endpoint": f"http://{receiver.address}",
            "protocol": "grpc",
            "compression": "none",
        }
        env = {"PHOENIX_PROJECT_NAME": "sidecar-project"}
        if configured_by == "config":
            phoenix["project"], env = "sidecar-project", {}
        sidecar = start_sidecar(sidecar_config(tmp_path, exporters={"phoenix": phoenix}), env=env)
        _send_from_client(sidecar.http_url, "app-a", "team-a", ["a1", "a2"])
        _send_from_client(sidecar.http_url, "app-b", "team-b", ["b1"])
        _send_from_client(sidecar.http_url, "app-none", None, ["n1", "n2"])
        assert wait_for(lambda: receiver.spans >= 5, timeout_s=30), receiver.spans
        assert _projects_by_service(receiver) == {
            "app-a": {"team-a"},
            "app-b": {"team-b"},
            "app-none": {"sidecar-project"},
        }
        assert sidecar.terminate() == 0
    finally:
        receiver.stop()


@pytest.mark.phoenix
@pytest.mark.slow
def test_one_sidecar_files_each_client_under_its_own_phoenix_project(
    tmp_path: Path, start_sidecar: Any, phoenix: Any
) -> None:
    exporters = {"phoenix": {"endpoint": phoenix.base_url, "project": "sidecar-fallback"}}
    sidecar = start_sidecar(sidecar_config(tmp_path, exporters=exporters))
    _send_from_client(sidecar.http_url, "app-one", "projects-one", ["one-1", "one-2"])
    _send_from_client(sidecar.http_url, "app-two", "projects-two", ["two-1"])
    _send_from_client(sidecar.http_url, "app-plain", None, ["plain-1"])
    assert sorted(s["name"] for s in phoenix.wait_for_spans("projects-one", count=2)) == ["one-1", "one-2"]
    assert [s["name"] for s in phoenix.wait_for_spans("projects-two", count=1)] == ["two-1"]
    assert "plain-1" in [s["name"] for s in phoenix.wait_for_spans("sidecar-fallback", count=1)]
    assert sidecar.terminate() == 0
    assert not any(s["name"].startswith(("one-", "two-")) for s in phoenix.spans("sidecar-fallback"))
