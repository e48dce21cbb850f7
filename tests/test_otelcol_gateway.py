"""deploy/otelcol/ run for real: spanguard sidecars and the OpenTelemetry Collector
(spanguard's own build of it, tests/support_otelcol.py) in both orders.

- app -> spanguard sidecar -> Collector gateway (memory_limiter, batch, loadbalancing
  by trace id) -> two downstream receivers: every span arrives, no trace is split,
  no planted secret is anywhere.
- app -> Collector agent -> spanguard sidecar, with the sidecar's queue full: the agent's
  sending queue and retry ride out the sidecar's backpressure and nothing is lost.
"""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from support_net import free_port, later_port
from support_otelcol import (
    OTELCOL_DEPLOY,
    agent_config,
    built_components,
    canonical_type,
    components_go_names,
    configured_components,
    gateway_config,
    load_deploy,
    otelcol_binary,
    spans_by_id,
)
from support_receiver import ParseOnlyReceiver
from support_sidecar import (
    grpc_export,
    make_request,
    received_seqs,
    sidecar_config,
    wait_for,
)
from support_spans import PLANTED_SECRETS, make_rag_trace, provider_with

TRACES = 24
SPANS_PER_TRACE = 3  # make_rag_trace: root, retriever, llm


def _ids(receiver: ParseOnlyReceiver) -> set[tuple[str, str]]:
    return set(spans_by_id(receiver.requests))


def _deploy_sidecar_config(tmp_path: Path) -> dict[str, Any]:
    """deploy/otelcol/spanguard-sidecar.yaml with loopback free ports and a private queue;
    its exporter endpoint stays `${SPANGUARD_GATEWAY_ENDPOINT:-...}` (the env sets it)."""
    config: dict[str, Any] = yaml.safe_load((OTELCOL_DEPLOY / "spanguard-sidecar.yaml").read_text())
    config["sidecar"]["grpc"]["endpoint"] = f"127.0.0.1:{free_port()}"
    config["sidecar"]["http"]["endpoint"] = f"127.0.0.1:{free_port()}"
    config["sidecar"]["queue"]["directory"] = str(tmp_path / "queue")
    config["sidecar"]["shutdown_timeout_s"] = 5
    return config


@pytest.mark.slow
def test_deploy_files_name_only_components_the_build_has(tmp_path: Path) -> None:
    built = built_components()
    for name in ("gateway.yaml", "agent.yaml"):
        for kind, names in configured_components(load_deploy(name)).items():
            missing = {n for n in names if canonical_type(kind, n) not in built[kind]}
            assert not missing, f"{name}: {kind} {sorted(missing)} are not in the build"
    # the build itself accepts each deploy file, as the tests run it
    for name, (config, _) in {
        "gateway.yaml": gateway_config(["127.0.0.1:1"]),
        "agent.yaml": agent_config("127.0.0.1:1", tmp_path / "s"),
    }.items():
        path = tmp_path / name
        path.write_text(yaml.safe_dump(config))
        done = subprocess.run(
            [str(otelcol_binary()), "validate", "--config", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"{name}: {done.stderr}"
    # and the build has what the tests and benchmarks use, and nothing components.go lacks
    assert {"otlp", "otlpjsonfile"} <= built["receivers"]
    assert {"batch", "memory_limiter", "redaction"} <= built["processors"]
    exporters = {canonical_type("exporters", n) for n in ("otlp", "otlphttp", "loadbalancing", "file")}
    assert exporters <= built["exporters"]
    assert {"health_check", "file_storage"} <= built["extensions"]
    assert sum(len(names) for names in built.values()) == len(components_go_names())


def test_compose_runs_the_release_the_build_pins() -> None:
    gateway = yaml.safe_load((OTELCOL_DEPLOY / "compose.yaml").read_text())["services"]["gateway"]
    tag = gateway["image"].rsplit(":", 1)[1]
    go_mod = (OTELCOL_DEPLOY / "collector" / "go.mod").read_text()
    assert f"go.opentelemetry.io/collector/otelcol v{tag}\n" in go_mod


@pytest.mark.slow
def test_sidecar_to_gateway_balances_whole_traces_redacted(
    tmp_path: Path, start_sidecar: Any, start_collector: Any
) -> None:
    backends = [ParseOnlyReceiver(keep=True), ParseOnlyReceiver(keep=True)]
    try:
        config, gateway = gateway_config([b.address for b in backends])
        collector = start_collector(config, gateway["health"])
        sidecar = start_sidecar(
            _deploy_sidecar_config(tmp_path), env={"SPANGUARD_GATEWAY_ENDPOINT": f"http://{gateway['grpc']}"}
        )
        provider = provider_with(
            BatchSpanProcessor(
                OTLPSpanExporter(endpoint=sidecar.grpc_address, insecure=True), max_export_batch_size=16
            )
        )
        sent = [make_rag_trace(provider, question_suffix=f" #{i}") for i in range(TRACES)]
        provider.shutdown()
        expected = {
            (t.trace_id, span) for t in sent for span in (t.root_span_id, t.retriever_span_id, t.llm_span_id)
        }
        assert wait_for(lambda: {i for b in backends for i in _ids(b)} >= expected, timeout_s=60)

        by_backend = [_ids(b) for b in backends]
        assert {i for ids in by_backend for i in ids} == expected
        traces_at: dict[str, set[int]] = defaultdict(set)
        for index, ids in enumerate(by_backend):
            for trace_id, _ in ids:
                traces_at[trace_id].add(index)
        assert all(len(where) == 1 for where in traces_at.values()), "a trace was split across backends"
        assert all(by_backend), "the load balancer sent everything to one backend"
        for backend in backends:
            wire = b"".join(request.SerializeToString() for request in backend.requests)
            for secret in PLANTED_SECRETS:
                assert secret.encode() not in wire
        assert collector.terminate() == 0
        assert sidecar.terminate() == 0
        for log in (collector.log_text(), sidecar.stderr_text()):
            assert not any(secret in log for secret in PLANTED_SECRETS)
    finally:
        for backend in backends:
            backend.stop()


@pytest.mark.slow
def test_agent_retries_through_sidecar_backpressure_and_loses_nothing(
    tmp_path: Path, start_sidecar: Any, start_collector: Any
) -> None:
    downstream_port = later_port()
    exporters = {
        "otlp": {"endpoint": f"http://127.0.0.1:{downstream_port}", "protocol": "grpc", "timeout_s": 2}
    }
    delivery = {"retry": {"initial_interval_s": 0.05, "max_interval_s": 0.5}}
    # a queue the agent's traffic fills while the downstream is away, yet well over one of
    # the agent's batches (512 spans, ~270 KB): the sidecar counts its delivered active
    # segment as used, so a batch near max_bytes would never fit (see docs/sidecar.md)
    queue = {"directory": str(tmp_path / "queue"), "max_bytes": "1MB"}
    sidecar = start_sidecar(sidecar_config(tmp_path, exporters=exporters, delivery=delivery, queue=queue))
    config, agent = agent_config(sidecar.grpc_address, tmp_path / "agent-storage")
    collector = start_collector(config, agent["health"])
    total = 0
    for start in range(0, 4000, 50):  # 80 requests of ~26 KB each: 2.1 MB > the 1 MB queue
        assert (
            grpc_export(agent["grpc"], make_request(list(range(start, start + 50)), extra_attrs=2)).name
            == "OK"
        )
        total += 50
    refused = 'spanguard_sidecar_requests_rejected_total{protocol="grpc",reason="queue_full"}'
    assert wait_for(lambda: sidecar.metrics().get(refused, 0) >= 1, timeout_s=60), sidecar.metrics()
    receiver = ParseOnlyReceiver(port=downstream_port, keep=True)
    try:
        arrived = wait_for(lambda: set(received_seqs(receiver)) == set(range(total)), timeout_s=120)
        assert arrived, (
            f"{len(set(received_seqs(receiver)))} of {total} arrived\n"
            f"{collector.log_text()[-3000:]}\n{sidecar.stderr_text()[-2000:]}"
        )
    finally:
        receiver.stop()
    assert collector.terminate() == 0
    assert sidecar.terminate() == 0
