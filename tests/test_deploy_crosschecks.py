"""deploy/ against the code: commands, configs, ports, the image, the Collector gateway.

Manifests drift from the program they run; these tests read both sides. Every command
line in compose and Kubernetes is parsed by spanguard's own argparse parser, every
spanguard config they mount passes `spanguard check` with the environment the
manifest gives it, and every port agrees with the table in docs/deploy.md (which the
README shows).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import re
import shlex
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support_deploy import (
    COMPOSE_FILES,
    DEPLOY,
    DEPLOY_DOC,
    K8S_BASE,
    K8S_POSTGRES,
    ROOT,
    Resource,
    env_of,
    find,
    load_yaml,
    pod_containers,
    ports_table,
    render_kustomization,
)

from spanguard.cli import COMMANDS
from spanguard.cli import main as spanguard_main
from spanguard.config import load_config
from spanguard.stack.ports import StackPorts

DOCKERFILE = DEPLOY / "Dockerfile"
SPANGUARD_IMAGES = ("spanguard:", "${SPANGUARD_IMAGE")
# ${VAR:-default} as compose writes it
_COMPOSE_DEFAULT = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


# --- what runs where --------------------------------------------------------------------


def compose_commands(path: Path) -> Iterator[tuple[str, list[str], dict[str, Any]]]:
    """(service, argv after the `spanguard` entrypoint, service) for our image's services."""
    for name, service in load_yaml(path)["services"].items():
        if str(service.get("image", "")).startswith(SPANGUARD_IMAGES):
            yield name, list(service["command"]), service


def k8s_commands(resources: list[Resource]) -> Iterator[tuple[str, list[str], dict[str, Any]]]:
    for resource in resources:
        for container in pod_containers(resource):
            if container["image"].startswith("spanguard:"):
                yield (
                    f"{resource['metadata']['name']}:{container['name']}",
                    list(container["args"]),
                    container,
                )


def dockerfile_instruction(name: str) -> list[str]:
    lines = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith(name + " ")]
    return [line.split(" ", 1)[1] for line in lines]


def all_commands() -> list[tuple[str, list[str]]]:
    found = [
        (f"{path.parent.name}/{path.name}:{name}", argv)
        for path in COMPOSE_FILES
        for name, argv, _ in compose_commands(path)
    ]
    for label, directory in (("k8s/base", K8S_BASE), ("k8s/postgres", K8S_POSTGRES)):
        found += [
            (f"{label}:{name}", argv) for name, argv, _ in k8s_commands(render_kustomization(directory))
        ]
    (cmd,) = dockerfile_instruction("CMD")
    found.append(("Dockerfile CMD", list(json.loads(cmd))))  # exec form is a JSON array
    return found


def option(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def resolve_compose_env(environment: dict[str, Any]) -> dict[str, str]:
    """A service's environment as compose sets it with no .env: `${VAR:-d}` -> d."""
    return {
        key: _COMPOSE_DEFAULT.sub(lambda m: m.group(2) or "", str(value))
        for key, value in environment.items()
    }


# --- commands ---------------------------------------------------------------------------


def subcommand_parser(name: str) -> argparse.ArgumentParser:
    """The real parser for one subcommand: the module spanguard.cli dispatches to."""
    assert name in COMMANDS, f"`spanguard {name}` is not a spanguard subcommand"
    parser = argparse.ArgumentParser(prog=f"spanguard {name}")
    importlib.import_module(COMMANDS[name][0]).add_arguments(parser)
    return parser


@pytest.mark.parametrize(
    ("where", "argv"), all_commands(), ids=lambda value: value if isinstance(value, str) else ""
)
def test_every_command_is_a_real_spanguard_subcommand(where: str, argv: list[str]) -> None:
    parser = subcommand_parser(argv[0])
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            parser.parse_args(argv[1:])
        except SystemExit:
            pytest.fail(f"{where}: `spanguard {shlex.join(argv)}` does not parse: {stderr.getvalue()}")


def test_the_parser_check_rejects_an_unknown_option() -> None:
    # a control for the test above
    with contextlib.redirect_stderr(io.StringIO()), pytest.raises(SystemExit):
        subcommand_parser("sidecar").parse_args(["--config", "x.yaml", "--no-such-flag"])


def test_dockerfile_entrypoint_is_spanguard() -> None:
    assert dockerfile_instruction("ENTRYPOINT") == ['["spanguard"]']


# --- configs ----------------------------------------------------------------------------


def spanguard_check(path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """Run `spanguard check --config path` in-process with `env`; return its output."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(sys, "argv", ["spanguard"])
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = spanguard_main(["check", "--config", str(path)])
    assert code == 0, f"spanguard check {path} failed:\n{out.getvalue()}"
    return out.getvalue()


def compose_mounted_configs() -> list[tuple[str, Path, dict[str, str]]]:
    found = []
    for path in COMPOSE_FILES:
        for name, argv, service in compose_commands(path):
            container_path = option(argv, "--config")
            mounts = [volume.split(":") for volume in service["volumes"] if volume.startswith(".")]
            (host,) = [host for host, target, *_ in mounts if target == container_path]
            env = resolve_compose_env(service.get("environment", {}))
            found.append((f"{path.parent.name}/{path.name}:{name}", (path.parent / host).resolve(), env))
    return found


@pytest.mark.parametrize(
    ("where", "config", "env"),
    compose_mounted_configs(),
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_compose_mounted_configs_pass_spanguard_check(
    where: str, config: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spanguard_check(config, env, monkeypatch)
    loaded = load_config(config)
    services = load_yaml(COMPOSE_FILES[0] if "otelcol" not in where else COMPOSE_FILES[1])["services"]
    # every exporter points at a service of the same compose project
    for exporter in (loaded.exporters.phoenix, loaded.exporters.otlp):
        if exporter is not None and exporter.endpoint:
            host = re.sub(r"^\w+://", "", exporter.endpoint).split(":")[0]
            assert host in services, f"{where}: exporter endpoint host {host!r} is not a compose service"


@pytest.mark.parametrize("directory", [K8S_BASE, K8S_POSTGRES], ids=["base", "postgres"])
def test_k8s_mounted_configs_pass_spanguard_check(
    directory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resources = render_kustomization(directory)
    deployment = find(resources, "Deployment", "spanguard-app")
    volumes = {volume["name"]: volume for volume in deployment["spec"]["template"]["spec"]["volumes"]}
    checked = 0
    for _name, argv, container in k8s_commands(resources):
        container_path = Path(option(argv, "--config"))
        (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(container_path.parent)]
        config_map = find(resources, "ConfigMap", volumes[mount["name"]]["configMap"]["name"])
        config_file = tmp_path / f"{container['name']}-{container_path.name}"
        config_file.write_text(config_map["data"][container_path.name])
        env = {key: value for key, value in env_of(container).items() if isinstance(value, str)}
        output = spanguard_check(config_file, env, monkeypatch)
        assert output
        checked += 1
    assert checked == 2


def test_stack_config_passes_spanguard_check(monkeypatch: pytest.MonkeyPatch) -> None:
    spanguard_check(DEPLOY / "stack.yaml", {}, monkeypatch)


def test_app_configs_export_only_to_the_sidecar() -> None:
    for path, sidecar_host in (
        (DEPLOY / "app.yaml", "sidecar"),
        (K8S_BASE / "config" / "app.yaml", "127.0.0.1"),
    ):
        exporters = load_config(path).exporters
        assert exporters.otlp is not None
        assert (exporters.console, exporters.file, exporters.phoenix) == (None, None, None)
        assert re.fullmatch(rf"http://{re.escape(sidecar_host)}:4318", exporters.otlp.endpoint)


# --- ports ------------------------------------------------------------------------------


def _docs_with_ports_table() -> list[Path]:
    # docs/deploy.md always; the README too once the lead has merged the section in
    readme = ROOT / "README.md"
    has_table = readme.exists() and "### Ports" in readme.read_text()
    return [DEPLOY_DOC, readme] if has_table else [DEPLOY_DOC]


@pytest.fixture(scope="module", params=_docs_with_ports_table(), ids=lambda path: path.name)
def table(request: pytest.FixtureRequest) -> dict[tuple[str, str], dict[str, int | None]]:
    rows = ports_table(request.param)
    assert set(rows) == {
        ("chat", "http"),
        ("sidecar", "grpc"),
        ("sidecar", "http"),
        ("phoenix", "http"),
        ("phoenix", "grpc"),
        ("postgres", "tcp"),
    }
    return rows


def _endpoint_port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1].split("/")[0])


def _url_port(text: str) -> int:
    (port,) = re.findall(r"[a-z]+://(?:[^@/\s]+@)?[\w.-]+:(\d+)", text)
    return int(port)


def test_local_stack_ports_match_the_table(table: dict[tuple[str, str], dict[str, int | None]]) -> None:
    ports = StackPorts()
    assert table["chat", "http"]["stack"] == ports.chat
    assert table["sidecar", "grpc"]["stack"] == ports.sidecar_grpc
    assert table["sidecar", "http"]["stack"] == ports.sidecar_http
    assert table["phoenix", "http"]["stack"] == ports.phoenix
    assert table["phoenix", "grpc"]["stack"] == ports.phoenix_grpc
    assert ports.phoenix_grpc != ports.sidecar_grpc


def test_compose_ports_match_the_table(table: dict[tuple[str, str], dict[str, int | None]]) -> None:
    compose = load_yaml(DEPLOY / "compose.yaml")["services"]
    col = {key: row["compose"] for key, row in table.items()}

    def targets(service: dict[str, Any]) -> set[int]:
        return {int(str(mapping).rsplit(":", 1)[1]) for mapping in service.get("ports", [])}

    phoenix_env = compose["phoenix"]["environment"]
    assert int(phoenix_env["PHOENIX_PORT"]) == col["phoenix", "http"]
    assert int(phoenix_env["PHOENIX_GRPC_PORT"]) == col["phoenix", "grpc"]
    assert targets(compose["phoenix"]) == {col["phoenix", "http"]}
    assert _url_port(" ".join(compose["phoenix"]["healthcheck"]["test"])) == col["phoenix", "http"]
    assert (
        _url_port(compose["sidecar"]["environment"]["PHOENIX_COLLECTOR_ENDPOINT"]) == col["phoenix", "http"]
    )

    sidecar_config = load_config(DEPLOY / "spanguard.yaml").sidecar
    assert sidecar_config.grpc is not None and sidecar_config.http is not None
    assert _endpoint_port(sidecar_config.grpc.endpoint) == col["sidecar", "grpc"]
    assert _endpoint_port(sidecar_config.http.endpoint) == col["sidecar", "http"]
    assert targets(compose["sidecar"]) == {col["sidecar", "grpc"], col["sidecar", "http"]}
    assert _url_port(" ".join(compose["sidecar"]["healthcheck"]["test"])) == col["sidecar", "http"]
    assert _url_port(compose["app"]["environment"]["SPANGUARD_SIDECAR_ENDPOINT"]) == col["sidecar", "http"]

    assert int(option(compose["app"]["command"], "--port")) == col["chat", "http"]
    assert targets(compose["app"]) == {col["chat", "http"]}
    assert _url_port(" ".join(compose["app"]["healthcheck"]["test"])) == col["chat", "http"]
    env_example = (DEPLOY / ".env.example").read_text()
    suggested = re.search(r"PHOENIX_SQL_DATABASE_URL=(postgresql\S+)", env_example)
    assert suggested is not None
    assert _url_port(suggested[1]) == col["postgres", "tcp"]


def test_k8s_ports_match_the_table(table: dict[tuple[str, str], dict[str, int | None]]) -> None:
    resources = render_kustomization(K8S_POSTGRES)
    col = {key: row["k8s"] for key, row in table.items()}
    containers = {c["name"]: c for r in resources for c in pod_containers(r)}

    def container_ports(name: str) -> set[int]:
        return {port["containerPort"] for port in containers[name]["ports"]}

    def service_ports(name: str) -> set[int]:
        return {port["port"] for port in find(resources, "Service", name)["spec"]["ports"]}

    phoenix = containers["phoenix"]
    assert (
        container_ports("phoenix")
        == service_ports("phoenix")
        == {col["phoenix", "http"], col["phoenix", "grpc"]}
    )
    assert int(env_of(phoenix)["PHOENIX_PORT"]) == col["phoenix", "http"]
    assert int(env_of(phoenix)["PHOENIX_GRPC_PORT"]) == col["phoenix", "grpc"]

    sidecar = containers["spanguard-sidecar"]
    assert container_ports("spanguard-sidecar") == {col["sidecar", "grpc"], col["sidecar", "http"]}
    assert _url_port(env_of(sidecar)["PHOENIX_COLLECTOR_ENDPOINT"]) == col["phoenix", "http"]
    config = load_config(K8S_BASE / "config" / "spanguard.yaml").sidecar
    assert config.grpc is not None and config.http is not None
    assert _endpoint_port(config.grpc.endpoint) == col["sidecar", "grpc"]
    assert _endpoint_port(config.http.endpoint) == col["sidecar", "http"]
    app_export = load_config(K8S_BASE / "config" / "app.yaml").exporters.otlp
    assert app_export is not None and _url_port(app_export.endpoint) == col["sidecar", "http"]

    assert container_ports("app") == service_ports("spanguard-app") == {col["chat", "http"]}
    assert int(option(containers["app"]["args"], "--port")) == col["chat", "http"]
    assert service_ports("postgres") == container_ports("postgres") == {col["postgres", "tcp"]}


def test_image_exposes_the_documented_ports(table: dict[tuple[str, str], dict[str, int | None]]) -> None:
    (expose,) = dockerfile_instruction("EXPOSE")
    exposed = {int(port) for port in expose.split()}
    assert exposed == {
        table["sidecar", "grpc"]["compose"],
        table["sidecar", "http"]["compose"],
        table["chat", "http"]["compose"],
    }


# --- the image --------------------------------------------------------------------------


def test_dockerfile_builds_a_locked_slim_non_root_image() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.MULTILINE)
    tasks_uv = re.search(r'^UV_VERSION = "([^"]+)"', (ROOT / "tasks.py").read_text(), re.MULTILINE)
    assert tasks_uv is not None
    assert f"ARG UV_VERSION={tasks_uv[1]}" in text
    assert 'pip install --no-cache-dir "uv==${UV_VERSION}"' in text
    syncs = re.findall(r"uv sync ([^\n]+)", text)
    assert syncs and all("--frozen" in sync and "--no-dev" in sync for sync in syncs)
    (user,) = dockerfile_instruction("USER")
    assert user.split(":")[0] == "${SPANGUARD_UID}"
    uid = re.search(r"^ARG SPANGUARD_UID=(\d+)$", text, re.MULTILINE)
    assert uid is not None and uid[1] != "0"


def test_dockerfile_copies_every_installed_package_folder() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    folders = set(pyproject["tool"]["setuptools"]["package-dir"].values())
    copied = {
        line.split()[0].rstrip("/") for line in dockerfile_instruction("COPY") if not line.startswith("--")
    }
    assert folders <= copied
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert {f"!{folder}/" for folder in folders} <= set(ignore)


# --- the Collector gateway --------------------------------------------------------------


def test_gateway_pipeline_is_well_formed() -> None:
    """Structural only: no Collector binary runs here."""
    gateway = load_yaml(DEPLOY / "otelcol" / "gateway.yaml")
    pipeline = gateway["service"]["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        for component in pipeline[kind]:
            assert component in gateway[kind], f"{kind[:-1]} {component} used but not defined"
    assert set(gateway["service"]["extensions"]) <= set(gateway["extensions"])
    assert pipeline["processors"][0] == "memory_limiter"
    assert "batch" in pipeline["processors"]
    assert pipeline["exporters"] == ["loadbalancing"]
    balancer = gateway["exporters"]["loadbalancing"]
    assert balancer["routing_key"] == "traceID"
    otelcol_compose = load_yaml(DEPLOY / "otelcol" / "compose.yaml")["services"]
    phoenix_grpc = int(otelcol_compose["phoenix-a"]["environment"]["PHOENIX_GRPC_PORT"])
    assert int(balancer["resolver"]["dns"]["port"]) == phoenix_grpc
    alias = otelcol_compose["gateway"]["environment"]["PHOENIX_BACKENDS"]
    for replica in ("phoenix-a", "phoenix-b"):
        assert alias in otelcol_compose[replica]["networks"]["backend"]["aliases"]
        assert "postgresql://" in otelcol_compose[replica]["environment"]["PHOENIX_SQL_DATABASE_URL"]
    # the sidecars send gRPC to the gateway's gRPC receiver
    sidecar = load_config(DEPLOY / "otelcol" / "spanguard-sidecar.yaml").exporters.otlp
    assert sidecar is not None and sidecar.protocol == "grpc"
    assert _url_port(sidecar.endpoint) == _endpoint_port(
        gateway["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    )
