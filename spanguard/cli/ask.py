"""`spanguard ask "QUESTION"`: one turn of the reference agent, answer on stdout.

Spans go where the config's `exporters:` section says (console by default); they are
flushed before the answer is printed, so the answer is the last thing on the screen.
"""

from __future__ import annotations

import argparse

from spanguard.errors import SpanguardError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("question", help="the question to ask the handbook agent")
    parser.add_argument("--session", help="session id to group turns (default: a new one)")
    parser.add_argument("--user", help="user id recorded on the spans")
    parser.add_argument(
        "--config", help="spanguard YAML file (default: $SPANGUARD_CONFIG or ./spanguard.yaml)"
    )


def run(args: argparse.Namespace) -> int:
    if not args.question.strip():
        raise SpanguardError("the question is empty")
    from spanguard.config import load_config
    from spanguard.pipeline.runtime import build_runtime
    from spanguard.pipeline.service import new_session_id

    runtime = build_runtime(load_config(args.config))
    try:
        result = runtime.agent.run(
            [{"role": "user", "content": args.question}],
            session_id=args.session or new_session_id(),
            user_id=args.user,
        )
    finally:
        runtime.shutdown()
    print(result.answer)
    return 0
