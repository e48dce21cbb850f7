"""`spanguard serve`: the chat service (FastAPI on uvicorn) with tracing through spanguard.

Before serving it logs one line saying where the spans go (the exporters, redaction on
or off), so "why is Phoenix empty?" starts with the answer on the screen."""

from __future__ import annotations

import argparse


def _port(text: str) -> int:
    """A TCP port number: uvicorn would silently wrap 70000 around to another port."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError("must be a port number from 1 to 65535")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", help="spanguard YAML file (default: $SPANGUARD_CONFIG or ./spanguard.yaml)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8000, help="port, 1-65535 (default 8000)")
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from spanguard.config import load_config
    from spanguard.pipeline.runtime import build_runtime, span_destinations
    from spanguard.pipeline.service import create_app

    runtime = build_runtime(load_config(args.config))
    print(
        f"spanguard serve: {span_destinations(runtime.config)}; "
        f"mode {runtime.pipeline.mode}, model {runtime.pipeline.model}",
        flush=True,
    )
    app = create_app(runtime, shutdown_runtime=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
