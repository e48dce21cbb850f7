"""`spanguard sidecar --config FILE`: run the OTLP collector sidecar until SIGTERM/SIGINT.

Prints one line when both receivers are listening (`spanguard sidecar: listening
grpc=... http=...`) so scripts and tests know when to start sending.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading

from spanguard.config import load_config
from spanguard.config.model import SpanguardConfig

SUPERVISE_INTERVAL_S = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="spanguard YAML (default: $SPANGUARD_CONFIG, else ./spanguard.yaml)",
    )


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    metrics_dir: str | None = None
    if config.sidecar.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Must be set before prometheus_client is imported, in this process and the workers.
        metrics_dir = tempfile.mkdtemp(prefix="spanguard-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        return _serve(config)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _serve(config: SpanguardConfig) -> int:
    from spanguard.sidecar.allocator import keep_large_buffers_on_heap
    from spanguard.sidecar.gc_tuning import tune_for_serving
    from spanguard.sidecar.logs import configure_logging
    from spanguard.sidecar.server import Sidecar
    from spanguard.sidecar.supervise import LoopGuard

    configure_logging()
    keep_large_buffers_on_heap()  # before the serving threads: it caps their malloc arenas
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    sidecar = Sidecar(config)
    try:
        sidecar.start()
        tune_for_serving()
        listening = " ".join(f"{kind}={address}" for kind, address in sidecar.addresses().items())
        print(f"spanguard sidecar: listening {listening} workers={config.sidecar.workers}", flush=True)
        guard = LoopGuard("receiver supervision", sidecar.metrics, stop)
        while not stop.wait(SUPERVISE_INTERVAL_S):
            try:
                sidecar.supervise()  # a respawn can fail for a while (EMFILE): try again later
            except Exception as exc:
                guard.failed(exc)
                continue
            guard.ok()
    finally:
        sidecar.stop()
    print("spanguard sidecar: stopped", file=sys.stderr, flush=True)
    return 0
