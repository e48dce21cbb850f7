"""`spanguard` command line: a thin dispatcher over one module per subcommand.

Each subcommand lives in `spanguard/cli/<name>.py` and exposes
`add_arguments(parser)` and `run(args) -> int`. Modules are imported only when their
command runs, so `spanguard check` does not pay for importing Chroma or LiteLLM.
Errors a user can fix (`SpanguardError`) print one line and exit 1, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from spanguard.errors import SpanguardError

# name -> (module, one-line help). Order is the order `--help` lists them.
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("spanguard.cli.check", "validate a config file and summarise its rules"),
    "redact": ("spanguard.cli.redact", "preview what an attribute value looks like after redaction"),
    "replay": ("spanguard.cli.replay", "send spans from spanguard files to Phoenix or an OTLP endpoint"),
    "sidecar": ("spanguard.cli.sidecar", "run the OTLP collector sidecar"),
    "ingest": ("spanguard.cli.ingest", "index your own .txt/.md files for the reference pipeline"),
    "ask": ("spanguard.cli.ask", "ask the reference RAG agent one question"),
    "serve": ("spanguard.cli.serve", "run the chat service"),
    "bench-pipeline": ("spanguard.cli.bench_pipeline", "run every benchmark query and chart latency"),
    "stack": ("spanguard.cli.stack", "run Phoenix, the sidecar and the chat service locally"),
}
# commands that run the reference pipeline: `spanguard[pipeline]`
PIPELINE_COMMANDS = frozenset({"ingest", "ask", "serve", "bench-pipeline", "stack"})


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spanguard", description="Privacy and size control for LLM traces.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        sub_parser.set_defaults(_module=module_name)
        if name in _requested_commands():
            importlib.import_module(module_name).add_arguments(sub_parser)
    return parser


def _requested_commands() -> set[str]:
    # Only the command actually named on the command line needs its options (and its
    # imports); `--help` at the top level lists names and help strings only.
    return {arg for arg in sys.argv[1:] if arg in COMMANDS}


def main(argv: Sequence[str] | None = None) -> int:
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    parser = _build_parser()
    args = parser.parse_args(sys.argv[1:])
    from spanguard.extras import extra_of, install_hint, missing_modules

    what = f"`spanguard {args.command}`"
    if args.command in PIPELINE_COMMANDS and (missing := missing_modules("pipeline")):
        print(f"spanguard: error: {install_hint(what, 'pipeline', missing)}", file=sys.stderr)
        return 1
    try:
        module = importlib.import_module(args._module)
        return int(module.run(args) or 0)
    except SpanguardError as exc:
        print(f"spanguard: error: {exc}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:
        extra = extra_of(exc.name)
        if extra is None:
            raise
        print(f"spanguard: error: {install_hint(what, extra, str(exc.name))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
