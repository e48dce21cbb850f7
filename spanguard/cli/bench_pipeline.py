"""`spanguard bench-pipeline`: per-query retrieval and generation latency, read from spans."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queries", help="questions, one a line (default: the bundled queries file)")
    parser.add_argument("--out", default="bench-pipeline", help="folder for the CSV table and PNG chart")
    parser.add_argument(
        "--config", help="spanguard YAML file (default: $SPANGUARD_CONFIG or ./spanguard.yaml)"
    )


def run(args: argparse.Namespace) -> int:
    from spanguard.config import load_config
    from spanguard.pipeline.bench import format_table, run_benchmark, write_outputs
    from spanguard.pipeline.corpus import read_queries

    config = load_config(args.config)
    queries = read_queries(args.queries)
    rows = run_benchmark(config, queries)
    print(format_table(rows))
    table, chart = write_outputs(rows, args.out)
    print(f"\ntable: {table}\nchart: {chart}")
    return 0 if all(row.status == "ok" for row in rows) else 1
