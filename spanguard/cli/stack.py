"""`spanguard stack up`: run Phoenix, the sidecar and the chat service locally."""

from __future__ import annotations

import argparse
from pathlib import Path

from spanguard.stack.ports import StackPorts

_DEFAULTS = StackPorts()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["up"], help="`up` starts the stack and supervises it")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="the stack's config (default: $SPANGUARD_CONFIG, ./spanguard.yaml, else deploy/stack.yaml)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="once healthy, play a short conversation with planted PII and show where to look",
    )
    parser.add_argument(
        "--exit",
        dest="exit_after_demo",
        action="store_true",
        help="stop everything after startup (and the demo) instead of running until Ctrl-C",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface every service binds (default: %(default)s)"
    )
    parser.add_argument("--chat-port", type=_port, default=_DEFAULTS.chat, help="default: %(default)s")
    parser.add_argument(
        "--phoenix-port",
        type=_port,
        default=_DEFAULTS.phoenix,
        help="Phoenix UI, REST and OTLP/HTTP (default: %(default)s)",
    )
    parser.add_argument(
        "--phoenix-grpc-port",
        type=_port,
        default=_DEFAULTS.phoenix_grpc,
        help="Phoenix's own OTLP gRPC, off 4317 so the sidecar can own it (default: %(default)s)",
    )
    parser.add_argument(
        "--sidecar-grpc-port", type=_port, default=_DEFAULTS.sidecar_grpc, help="default: %(default)s"
    )
    parser.add_argument(
        "--sidecar-http-port", type=_port, default=_DEFAULTS.sidecar_http, help="default: %(default)s"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(".spanguard/stack"),
        help="derived configs, Phoenix's database, the sidecar's queue (default: %(default)s)",
    )
    parser.add_argument(
        "--phoenix-bin",
        metavar="PATH",
        help="the `phoenix` executable (default: deploy/phoenix/.venv/bin/phoenix)",
    )


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("a port is a number from 1 to 65535") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is a number from 1 to 65535")
    return value


def run(args: argparse.Namespace) -> int:
    from spanguard.stack.local import StackOptions, up

    options = StackOptions(
        config_path=args.config,
        host=args.host,
        ports=StackPorts(
            chat=args.chat_port,
            phoenix=args.phoenix_port,
            phoenix_grpc=args.phoenix_grpc_port,
            sidecar_grpc=args.sidecar_grpc_port,
            sidecar_http=args.sidecar_http_port,
        ),
        workdir=args.workdir,
        phoenix_bin=args.phoenix_bin,
        demo=args.demo,
        exit_after_demo=args.exit_after_demo,
    )
    return up(options)
