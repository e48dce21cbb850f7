"""`spanguard replay FILE... --endpoint URL`: load spans captured to files into a backend."""

from __future__ import annotations

import argparse
import os
import sys

from spanguard.errors import SpanguardError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="spanguard OTLP JSON Lines files; rotated ones (spans.jsonl.1 …) too",
    )
    parser.add_argument(
        "--endpoint",
        required=True,
        help="OTLP endpoint: http://host:6006 (Phoenix) or http://host:4318 for "
        "http/protobuf (/v1/traces is added), host:4317 for grpc",
    )
    parser.add_argument(
        "--project", help="Phoenix project to file the spans under (sets openinference.project.name)"
    )
    parser.add_argument("--protocol", choices=("http/protobuf", "grpc"), default="http/protobuf")
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra request header (repeatable); PHOENIX_API_KEY is sent as a bearer token",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")


def _headers(pairs: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            # Never quoted: without `=` the whole argument may be a credential
            # (`--header "Authorization: Bearer …"`).
            raise SpanguardError("--header needs NAME=VALUE (e.g. --header authorization='Bearer …')")
        headers[name.strip()] = value
    api_key = os.environ.get("PHOENIX_API_KEY")
    if api_key and not any(key.lower() == "authorization" for key in headers):
        headers["authorization"] = f"Bearer {api_key}"
    return headers


def run(args: argparse.Namespace) -> int:
    from spanguard.exporters.replay import replay_files
    from spanguard.exporters.urls import display_url

    summary = replay_files(
        args.files,
        args.endpoint,
        protocol=args.protocol,
        project=args.project,
        headers=_headers(args.header),
        timeout_s=args.timeout,
    )
    for bad in summary.bad_lines:
        print(f"spanguard: skipped {bad}", file=sys.stderr)
    print(
        f"replayed {summary.spans} spans from {summary.lines} lines in {summary.files} files "
        f"({summary.requests} requests) to {display_url(args.endpoint)}"
    )
    if summary.bad_lines:
        print(
            f"spanguard: {len(summary.bad_lines)} lines could not be read and were skipped", file=sys.stderr
        )
        return 1
    return 0
