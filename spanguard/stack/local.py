"""`spanguard stack up`: Phoenix, the sidecar and the chat service on this machine.

The same topology as deploy/compose.yaml, without Docker: Phoenix runs from its own
environment (deploy/phoenix/.venv — it pins an `openai` that litellm cannot share),
the sidecar and the chat service run from this one, all on 127.0.0.1. The chat
service exports to the sidecar only; the sidecar redacts and forwards to Phoenix.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from spanguard.config import CONFIG_ENV_VAR, DEFAULT_CONFIG_FILE, load_config
from spanguard.config.model import SpanguardConfig
from spanguard.stack.ports import (
    StackPorts,
    StackUrls,
    app_config,
    phoenix_project,
    sidecar_config,
    write_config,
)
from spanguard.stack.supervisor import (
    PortClaim,
    ServiceSpec,
    StackError,
    Supervisor,
    check_ports,
    run_services,
)

# the source checkout this package runs from (an editable install); None when installed
# from a wheel, where deploy/ does not exist
_CHECKOUT = Path(__file__).resolve().parents[2]
BUNDLED_STACK_CONFIG = _CHECKOUT / "deploy" / "stack.yaml"
BUNDLED_PHOENIX_BIN = _CHECKOUT / "deploy" / "phoenix" / ".venv" / "bin" / "phoenix"
PHOENIX_BIN_ENV_VAR = "SPANGUARD_PHOENIX_BIN"
OFFLINE_ENV = {
    "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
    "PHOENIX_TELEMETRY_ENABLED": "false",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
}
# Phoenix runs its database migrations on first start; on 2 busy cores that is slow
PHOENIX_STARTUP_TIMEOUT_S = 180.0
SERVICE_STARTUP_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class StackOptions:
    config_path: str | None = None
    host: str = "127.0.0.1"
    ports: StackPorts = field(default_factory=StackPorts)
    workdir: Path = Path(".spanguard/stack")
    phoenix_bin: str | None = None
    demo: bool = False
    exit_after_demo: bool = False


def resolve_config(config_path: str | None) -> tuple[SpanguardConfig, str]:
    """The stack's config and a name for it: explicit path, the usual places, or the bundled file."""
    if config_path is not None:
        return load_config(config_path), config_path
    if os.environ.get(CONFIG_ENV_VAR) or Path(DEFAULT_CONFIG_FILE).is_file():
        return load_config(None), os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_FILE
    if BUNDLED_STACK_CONFIG.is_file():
        return load_config(BUNDLED_STACK_CONFIG), str(BUNDLED_STACK_CONFIG)
    return load_config(None), "built-in defaults"


def resolve_phoenix_bin(explicit: str | None) -> str:
    """The `phoenix` executable: flag, $SPANGUARD_PHOENIX_BIN, the checkout's env, or PATH."""
    candidates = [explicit, os.environ.get(PHOENIX_BIN_ENV_VAR), str(BUNDLED_PHOENIX_BIN)]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    on_path = shutil.which("phoenix")
    if on_path:
        return on_path
    raise StackError(
        "the Phoenix server was not found; create its environment with "
        "`uv sync --frozen --project deploy/phoenix`, or pass --phoenix-bin PATH"
    )


def phoenix_argv(phoenix_bin: str) -> list[str]:
    """`phoenix serve`, run through `phoenix_launcher` by the interpreter of Phoenix's own
    environment, so its gRPC receiver binds the stack's host and not every interface."""
    python = Path(phoenix_bin).with_name("python")
    if not python.is_file():
        raise StackError(
            f"no python next to {phoenix_bin}: the stack needs Phoenix's environment to bind "
            "its gRPC receiver to the host (pass --phoenix-bin <env>/bin/phoenix)"
        )
    return [str(python), str(Path(__file__).with_name("phoenix_launcher.py")), "serve"]


def write_stack_files(options: StackOptions, config: SpanguardConfig, urls: StackUrls) -> None:
    """The derived configs and Phoenix's folder. Only after the ports were checked: a
    second `stack up` must refuse without touching the running stack's files."""
    workdir = options.workdir.resolve()
    write_config(sidecar_config(config, urls, workdir), workdir / "sidecar.yaml")
    write_config(app_config(config, urls), workdir / "app.yaml")
    (workdir / "phoenix").mkdir(parents=True, exist_ok=True)


def build_services(options: StackOptions, config: SpanguardConfig) -> tuple[list[ServiceSpec], StackUrls]:
    """Describe the three services, in start order (nothing is written here)."""
    urls = StackUrls(options.host, options.ports)
    workdir = options.workdir.resolve()
    ports = options.ports
    sidecar_file = workdir / "sidecar.yaml"
    app_file = workdir / "app.yaml"
    phoenix_dir = workdir / "phoenix"
    spanguard = [sys.executable, "-m", "spanguard"]
    phoenix = ServiceSpec(
        name="phoenix",
        argv=phoenix_argv(resolve_phoenix_bin(options.phoenix_bin)),
        ports=[
            PortClaim(ports.phoenix, options.host, "--phoenix-port"),
            # bound to the host too, by phoenix_launcher (Phoenix alone binds every interface)
            PortClaim(ports.phoenix_grpc, options.host, "--phoenix-grpc-port"),
        ],
        health_url=f"{urls.phoenix}/healthz",
        env={
            **OFFLINE_ENV,
            "PHOENIX_HOST": options.host,
            "PHOENIX_PORT": str(ports.phoenix),
            "PHOENIX_GRPC_PORT": str(ports.phoenix_grpc),
            "PHOENIX_WORKING_DIR": str(phoenix_dir),
            # thousands of lines of CREATE TABLE on first start would bury the other logs
            "PHOENIX_LOG_MIGRATIONS": os.environ.get("PHOENIX_LOG_MIGRATIONS", "false"),
        },
        cwd=phoenix_dir,
        startup_timeout_s=PHOENIX_STARTUP_TIMEOUT_S,
        # its banner, warnings and access log (the demo's polls) would fill the screen
        log_file=phoenix_dir / "phoenix.log",
        starting_note="its first start creates the database",
    )
    sidecar = ServiceSpec(
        name="sidecar",
        argv=[*spanguard, "sidecar", "--config", str(sidecar_file)],
        ports=[
            PortClaim(ports.sidecar_grpc, options.host, "--sidecar-grpc-port"),
            PortClaim(ports.sidecar_http, options.host, "--sidecar-http-port"),
        ],
        health_url=f"{urls.sidecar_http}/healthz",
        env=OFFLINE_ENV,
        cwd=workdir,
        startup_timeout_s=SERVICE_STARTUP_TIMEOUT_S,
    )
    chat = ServiceSpec(
        name="chat",
        argv=[
            *spanguard,
            "serve",
            "--config",
            str(app_file),
            "--host",
            options.host,
            "--port",
            str(ports.chat),
        ],
        ports=[PortClaim(ports.chat, options.host, "--chat-port")],
        health_url=f"{urls.chat}/healthz",
        env=OFFLINE_ENV,
        startup_timeout_s=SERVICE_STARTUP_TIMEOUT_S,
    )
    return [phoenix, sidecar, chat], urls


def print_urls(supervisor: Supervisor, urls: StackUrls, project: str, config: SpanguardConfig) -> None:
    supervisor.say("")
    supervisor.say(f"[stack] chat:     {urls.chat}/")
    supervisor.say(f"[stack] phoenix:  {urls.phoenix}/  (project {project})")
    supervisor.say(
        f"[stack] sidecar:  OTLP gRPC {urls.host}:{urls.ports.sidecar_grpc}, "
        f"OTLP HTTP {urls.sidecar_http} (/healthz /readyz /metrics)"
    )
    also = f", and to the file {config.exporters.file.path}" if config.exporters.file is not None else ""
    redaction = "redacts" if config.redaction.enabled else "forwards (redaction is off in the config)"
    supervisor.say(
        f"[stack] spans:    chat service -> sidecar {urls.sidecar_http} (it {redaction}) -> "
        f"Phoenix {urls.phoenix}/v1/traces, project {project}{also}"
    )


def up(options: StackOptions, *, supervisor: Supervisor | None = None) -> int:
    """Run the stack until Ctrl-C/SIGTERM (or, with `exit_after_demo`, until the demo ends)."""
    config, config_name = resolve_config(options.config_path)
    specs, urls = build_services(options, config)
    check_ports(specs)  # before anything is written: a running stack's files stay as they are
    write_stack_files(options, config, urls)
    supervisor = supervisor or Supervisor()
    project_name = phoenix_project(config)
    supervisor.say(f"[stack] config: {config_name}; derived configs in {options.workdir}")
    on_ready = _on_ready(options, urls, project_name, config)
    return run_services(
        specs, supervisor=supervisor, on_ready=on_ready, exit_when_ready=options.exit_after_demo
    )


def _on_ready(
    options: StackOptions, urls: StackUrls, project: str, config: SpanguardConfig
) -> Callable[[Supervisor], None]:
    def ready(supervisor: Supervisor) -> None:
        print_urls(supervisor, urls, project, config)
        if options.demo:
            from spanguard.stack.demo import run_demo

            run_demo(
                urls.chat, urls.phoenix, say=supervisor.say, should_stop=supervisor.stop_requested.is_set
            )
        if not options.exit_after_demo:
            supervisor.say("[stack] running; press Ctrl-C to stop everything")

    return ready
