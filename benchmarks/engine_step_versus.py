"""The sidecar's engine step on this tree next to another checkout of spanguard, in turns.

On a shared machine one run of `processor_overhead.py` swings by a third; a comparison
"before and after" is only fair inside one run. This runs the same 512-span request
(clean, and one span in four with an e-mail and a phone number) through each tree's
engine step in fresh processes, alternating the trees, and prints the medians and their
ratio. The other checkout needs its own `.venv` (`uv sync --frozen --all-extras` there);
a tree from before `Engine` existed is driven through `transform_export_request`.

    git worktree add ../base f995f2f && (cd ../base && uv sync --frozen --all-extras)
    .venv/bin/python benchmarks/engine_step_versus.py --against ../base [--pairs 6]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

# Run inside the tree being measured, with that tree's interpreter: prints two medians.
_ONE_TREE = """
import statistics, sys, time
sys.path.insert(0, "benchmarks")
from processor_overhead import otlp_request
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from spanguard.config.model import RedactionConfig, TruncationConfig
from spanguard.processors.redaction import Redactor
from spanguard.processors.truncation import Truncator
redactor, truncator = Redactor(RedactionConfig()), Truncator(TruncationConfig())
try:
    from spanguard.processors.engine import Engine
    from spanguard.processors.otlp_adapter import apply_to_request
    engine = Engine(redactor, truncator)
    def step(request, data):
        apply_to_request(request, engine, original=data)
except ImportError:  # a tree from before the engine
    from spanguard.processors.otlp_adapter import transform_export_request
    def step(request, data):
        transform_export_request(request, redactor, truncator, original=data)
medians = []
for mixed in (False, True):
    data = otlp_request(mixed=mixed)
    times = []
    for _ in range(int(sys.argv[1])):
        request = ExportTraceServiceRequest.FromString(data)
        start = time.process_time()
        step(request, data)
        times.append(time.process_time() - start)
    medians.append(statistics.median(times) * 1e3)
print(*medians)
"""


def one_run(tree: Path, requests: int) -> tuple[float, float]:
    """(clean, mixed) CPU ms per request, medians, measured in a fresh process of `tree`."""
    out = subprocess.run(
        [str(tree / ".venv" / "bin" / "python"), "-c", _ONE_TREE, str(requests)],
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return float(out[0]), float(out[1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--against", type=Path, required=True, help="another spanguard checkout with a .venv")
    parser.add_argument("--pairs", type=int, default=6, help="alternations of the two trees")
    parser.add_argument("--requests", type=int, default=30, help="requests per process and workload")
    args = parser.parse_args(argv)
    other = args.against.resolve()
    if not (other / ".venv" / "bin" / "python").exists():
        parser.error(f"{other} has no .venv: run `uv sync --frozen --all-extras` there first")
    runs: dict[str, list[tuple[float, float]]] = {"against": [], "this tree": []}
    for _ in range(args.pairs):
        runs["against"].append(one_run(other, args.requests))
        runs["this tree"].append(one_run(HERE, args.requests))
    print("sidecar engine step, one 512-span request, CPU ms; medians of per-process medians")
    print(f"{'tree':<10} {'clean':>7} {'mixed':>7}")
    medians = {}
    for name, pairs in runs.items():
        medians[name] = (statistics.median(c for c, _ in pairs), statistics.median(m for _, m in pairs))
        print(f"{name:<10} {medians[name][0]:>7.2f} {medians[name][1]:>7.2f}")
    ratio = [medians["this tree"][i] / medians["against"][i] for i in range(2)]
    print(f"{'ratio':<10} {ratio[0]:>7.3f} {ratio[1]:>7.3f}   (this tree / {other.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
