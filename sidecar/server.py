"""The sidecar assembled: receivers in front of the durable queue, delivery behind it.

`workers: 1` runs everything in one process. `workers: N` runs N receiving processes
that bind the same gRPC and HTTP ports with SO_REUSEPORT (the kernel spreads
connections across them) and each append to their own queue stream, so no two
processes ever write one file; the parent process runs delivery over all streams,
one cursor per exporter per stream. Parsing, redaction and the fsync happen in the
receivers, in parallel; delivery only reads bytes and sends them.

Shutdown (SIGTERM/SIGINT): receivers stop accepting and finish what is in flight
(each of those requests is on disk before its ack), then delivery keeps sending until
the queue is empty or `shutdown_timeout_s` has passed; what is left stays on disk for
the next start.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.process
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from spanguard.config.model import SpanguardConfig
from spanguard.errors import ConfigError, SpanguardError
from spanguard.sidecar.admission import MemoryBudget
from spanguard.sidecar.dead_letter import DeadLetterFile
from spanguard.sidecar.delivery import DeliveryWorker, Janitor
from spanguard.sidecar.forwarders import Forwarder, build_forwarders
from spanguard.sidecar.grpc_receiver import GrpcReceiver
from spanguard.sidecar.http_receiver import HttpReceiver, SidecarHttpState
from spanguard.sidecar.ingest import Ingestor
from spanguard.sidecar.listen import BearerAuth, parse_endpoint, warn_if_exposed
from spanguard.sidecar.metrics import SidecarMetrics
from spanguard.sidecar.queue_writer import QueueWriter
from spanguard.sidecar.transform import RequestTransformer

log = logging.getLogger("spanguard.sidecar")

RECEIVER_GRACE_S = 2.0
HTTP_MAX_CONCURRENT = 8
# /readyz turns 503 when less than this share of queue.max_bytes is free.
READY_FREE_RATIO = 0.1
PARENT_CHECK_S = 0.5
STARTUP_TIMEOUT_S = 60.0


@dataclass
class Receivers:
    """The receiving half: both front doors and the queue writer they share."""

    writer: QueueWriter
    grpc: GrpcReceiver | None
    http: HttpReceiver | None

    def stop_accepting(self) -> None:
        """Draining: every new export is answered 503 / UNAVAILABLE (retry elsewhere or
        later) rather than finding the port closed; what is in flight finishes, then the
        queue closes."""
        for receiver in (self.grpc, self.http):
            if receiver is not None:
                receiver.stop_accepting()
        self.writer.close()

    def stop(self, grace_s: float) -> None:
        self.stop_accepting()
        if self.grpc is not None:
            self.grpc.stop(grace_s)
        if self.http is not None:
            self.http.stop()


@contextlib.contextmanager
def _explained(key: str, where: str) -> Iterator[None]:
    """OS errors at start-up (port taken, TLS file missing, queue not writable) as one line."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SpanguardError(f"{key}: cannot use {where}: {reason}") from None


def start_receivers(
    config: SpanguardConfig, metrics: SidecarMetrics, stream: str, *, reuse_port: bool = False
) -> Receivers:
    side = config.sidecar
    transformer = RequestTransformer(config.redaction, config.truncation)
    with _explained("sidecar.queue.directory", side.queue.directory):
        writer = QueueWriter(Path(side.queue.directory), stream, side.queue.max_bytes)
    ingestor = Ingestor(transformer, writer, metrics, MemoryBudget(side.max_in_flight_memory))
    auth = BearerAuth(side.auth.bearer_token)
    grpc_receiver: GrpcReceiver | None = None
    http_receiver: HttpReceiver | None = None
    try:
        if side.grpc is not None:
            host, port = parse_endpoint(side.grpc.endpoint, "sidecar.grpc.endpoint")
            warn_if_exposed(host, "gRPC", auth.enabled)
            with _explained("sidecar.grpc.endpoint", side.grpc.endpoint):
                grpc_receiver = GrpcReceiver(
                    ingestor,
                    auth,
                    host,
                    port,
                    tls=side.tls,
                    reuse_port=reuse_port,
                    max_request_bytes=side.max_request_bytes,
                )
        if side.http is not None:
            host, port = parse_endpoint(side.http.endpoint, "sidecar.http.endpoint")
            warn_if_exposed(host, "HTTP", auth.enabled)
            state = SidecarHttpState(
                ingestor,
                auth,
                side.max_request_bytes,
                HTTP_MAX_CONCURRENT,
                metrics_body=metrics.exposition,
                ready=lambda: writer.free_ratio() >= READY_FREE_RATIO,
            )
            with _explained("sidecar.http.endpoint", side.http.endpoint):
                http_receiver = HttpReceiver(state, host, port, tls=side.tls, reuse_port=reuse_port)
    except BaseException:
        Receivers(writer, grpc_receiver, http_receiver).stop(0)
        raise
    return Receivers(writer, grpc_receiver, http_receiver)


class Delivery:
    """The delivering half: a worker per exporter (`delivery.num_consumers` sends in flight
    each) and the janitor."""

    def __init__(
        self, config: SpanguardConfig, metrics: SidecarMetrics, forwarders: list[Forwarder] | None = None
    ) -> None:
        directory = Path(config.sidecar.queue.directory)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.forwarders = build_forwarders(config.exporters) if forwarders is None else forwarders
        delivery = config.sidecar.delivery
        self.dead_letters: list[DeadLetterFile] = []
        self.workers: list[DeliveryWorker] = []
        for f in self.forwarders:
            # network exporters give a batch up as their `retry_on_failure` says; the file
            # and console writers retry while running (their only failure is a full disk)
            retry = getattr(getattr(config.exporters, f.name, None), "retry_on_failure", None)
            elapsed = None if retry is None or not retry.max_elapsed_time_s else retry.max_elapsed_time_s
            dead_letter = None
            if delivery.dead_letter is not None and retry is not None:  # only these give batches up
                dead_letter = DeadLetterFile.from_config(delivery.dead_letter, f.name)
                self.dead_letters.append(dead_letter)
            self.workers.append(
                DeliveryWorker(
                    f,
                    directory,
                    metrics,
                    num_consumers=delivery.num_consumers,
                    backoff_initial_s=delivery.retry.initial_interval_s,
                    backoff_max_s=delivery.retry.max_interval_s,
                    max_elapsed_time_s=elapsed,
                    retry_enabled=retry is None or retry.enabled,
                    dead_letter=dead_letter,
                    new_starts_at_end=True,
                )
            )
        self.janitor = Janitor(directory, self.workers, metrics)
        for worker in self.workers:
            worker.start()
        self.janitor.start()

    def stop(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for worker in self.workers:
            worker.drain(deadline)
        for worker in self.workers:
            if not worker.join(deadline - time.monotonic()):
                worker.stop()
        for worker in self.workers:
            worker.join(2.0)
        # the receivers are closed by now: a fully delivered newest segment goes too
        self.janitor.stop(writers_closed=True)
        for forwarder in self.forwarders:
            try:
                forwarder.close()
            except Exception as exc:
                log.warning("closing exporter %r failed: %s", forwarder.name, type(exc).__name__)
        for dead_letter in self.dead_letters:
            dead_letter.close()


class Sidecar:
    """One process doing it all (`workers: 1`), or the parent of N receiving processes."""

    def __init__(self, config: SpanguardConfig) -> None:
        self.config = config
        self.metrics = SidecarMetrics()
        self.receivers: Receivers | None = None
        self.delivery: Delivery | None = None
        self._children: list[multiprocessing.process.BaseProcess] = []
        self._stopping = threading.Event()

    @property
    def workers(self) -> int:
        return self.config.sidecar.workers

    def start(self) -> None:
        if self.workers > 1:
            self._check_fixed_ports()
        # Delivery first: a new exporter's cursor goes to the end of what is queued now,
        # before a receiver can accept anything meant for it.
        self.delivery = Delivery(self.config, self.metrics)
        try:
            if self.workers == 1:
                self.receivers = start_receivers(self.config, self.metrics, "w0")
            else:
                for index in range(self.workers):
                    self._children.append(self._spawn(index))
            for worker in self.delivery.workers:
                worker.reader.refresh()  # the receivers' streams exist now: read them from their start
        except BaseException:
            self.delivery.stop(0)
            raise

    def _check_fixed_ports(self) -> None:
        side = self.config.sidecar
        for key, listen in (("sidecar.grpc.endpoint", side.grpc), ("sidecar.http.endpoint", side.http)):
            if listen is not None and parse_endpoint(listen.endpoint, key)[1] == 0:
                raise ConfigError("workers > 1 share a port, so it cannot be 0 (pick one)", key=key)

    def _spawn(self, index: int) -> multiprocessing.process.BaseProcess:
        context = multiprocessing.get_context("spawn")
        # A pipe, not a multiprocessing.Event: an Event is a shared semaphore, and a process
        # killed at the wrong moment can leave it locked for the other side forever.
        ready_reader, ready_writer = context.Pipe(duplex=False)
        process = context.Process(
            target=receiver_process_main,
            args=(self.config, index, ready_writer),
            name=f"spanguard-receiver-{index}",
            daemon=False,
        )
        process.start()
        ready_writer.close()
        try:
            if not ready_reader.poll(STARTUP_TIMEOUT_S):
                process.kill()
                raise RuntimeError(f"receiver process {index} did not start in {STARTUP_TIMEOUT_S:.0f} s")
            ready_reader.recv()
        except EOFError:
            process.join(5)
            raise RuntimeError(
                f"receiver process {index} failed to start (exit code {process.exitcode})"
            ) from None
        finally:
            ready_reader.close()
        return process

    def addresses(self) -> dict[str, str]:
        side = self.config.sidecar
        out: dict[str, str] = {}
        if self.receivers is not None:
            if self.receivers.grpc is not None and side.grpc is not None:
                out["grpc"] = f"{parse_endpoint(side.grpc.endpoint, '')[0]}:{self.receivers.grpc.port}"
            if self.receivers.http is not None and side.http is not None:
                out["http"] = f"{parse_endpoint(side.http.endpoint, '')[0]}:{self.receivers.http.port}"
        else:
            if side.grpc is not None:
                out["grpc"] = side.grpc.endpoint
            if side.http is not None:
                out["http"] = side.http.endpoint
        return out

    def supervise(self) -> None:
        """Restart a receiving process that died while we were not stopping."""
        for index, child in enumerate(self._children):
            if not child.is_alive() and not self._stopping.is_set():
                log.error("receiver process %d exited with %s; restarting it", index, child.exitcode)
                self._children[index] = self._spawn(index)

    def stop(self) -> None:
        """Receivers answer 503 / UNAVAILABLE while delivery drains, and close only then."""
        self._stopping.set()
        timeout = self.config.sidecar.shutdown_timeout_s
        deadline = time.monotonic() + timeout
        if self.receivers is not None:
            self.receivers.stop_accepting()
        for child in self._children:  # first SIGTERM: the child drains (answers 503)
            if child.is_alive() and child.pid is not None:
                os.kill(child.pid, signal.SIGTERM)
        if self.delivery is not None:
            self.delivery.stop(max(0.0, deadline - time.monotonic()))
        if self.receivers is not None:
            self.receivers.stop(min(RECEIVER_GRACE_S, timeout / 2))
        for child in self._children:  # second SIGTERM: the child closes its ports and exits
            if child.is_alive() and child.pid is not None:
                os.kill(child.pid, signal.SIGTERM)
        for child in self._children:
            child.join(RECEIVER_GRACE_S * 2)
            if child.is_alive():
                child.kill()
                child.join(2)


def receiver_process_main(config: SpanguardConfig, index: int, ready: Connection) -> None:
    """Entry point of one receiving process (`workers: N`): receive, queue, ack; no delivery."""
    from spanguard.sidecar.allocator import keep_large_buffers_on_heap
    from spanguard.sidecar.gc_tuning import tune_for_serving
    from spanguard.sidecar.logs import configure_logging

    configure_logging()
    keep_large_buffers_on_heap()  # before the serving threads: it caps their malloc arenas
    stop = threading.Event()
    terms: list[int] = []

    def _on_term(signum: int, _frame: object) -> None:
        terms.append(signum)  # the first means drain, the second close
        stop.set()

    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; Ctrl-C reaches the whole group
    parent = os.getppid()
    receivers = start_receivers(config, SidecarMetrics(), f"w{index}", reuse_port=True)
    tune_for_serving()
    ready.send(True)
    ready.close()
    # An orphan would keep the port and its queue stream, and nobody would deliver for it.
    while not stop.wait(PARENT_CHECK_S):
        if os.getppid() != parent:
            log.error("receiver process %d lost its parent; stopping", index)
            break
    if os.getppid() == parent:
        # draining: answer 503 / UNAVAILABLE until the parent has delivered what it can
        receivers.stop_accepting()
        while len(terms) < 2 and os.getppid() == parent:
            time.sleep(PARENT_CHECK_S / 5)
    receivers.stop(RECEIVER_GRACE_S)
