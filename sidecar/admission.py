"""Admission by estimated cost: a memory budget for the requests being worked on at once.

A request's footprint while it is parsed, redacted and queued is several times its bytes
(every value becomes protobuf and Python objects): `benchmarks/sidecar_memory.py`
measured 6 to 9 times for the worst shape, spans of many small attributes. Work slots
bound how many requests are worked on, not how big they are, so four 15 MB requests at
once took 386 MB. Here each request is charged `COST_PER_BYTE` times its (uncompressed)
bytes against `sidecar.max_in_flight_memory`, per process, before it is decoded, and
waits (first come, first served) until its charge fits. A request larger than the whole
budget is admitted alone, so every request `max_request_bytes` allows can get through.
One that waits longer than its bound is refused `overloaded` (429 / RESOURCE_EXHAUSTED
with a retry hint), which clients retry.

The work is CPU-bound Python under one GIL, so admitting fewer large requests at once
costs little throughput: they would have taken turns on the interpreter anyway.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import threading
import time
from collections.abc import Iterator

# Estimated working memory per byte of request (measured 6.2 to 8.6, see above).
COST_PER_BYTE = 8
# Longest a request waits for the budget before it is refused as overloaded.
MAX_WAIT_S = 10.0


class OverBudget(Exception):
    """The request waited its bound and the budget never had room."""


class MemoryBudget:
    """Charges requests against a budget of estimated bytes, first come, first served."""

    def __init__(self, budget_bytes: int, cost_per_byte: int = COST_PER_BYTE) -> None:
        self.budget_bytes = budget_bytes
        self.cost_per_byte = cost_per_byte
        self._lock = threading.Condition()
        self._in_use = 0
        self._waiting: collections.deque[int] = collections.deque()
        self._tickets = itertools.count()
        self.peak_in_use = 0  # for tests and metrics: the most charged at once

    @property
    def in_use(self) -> int:
        return self._in_use

    @property
    def waiting(self) -> int:
        """Requests waiting for room."""
        return len(self._waiting)

    @contextlib.contextmanager
    def admit(self, request_bytes: int, max_wait_s: float = MAX_WAIT_S) -> Iterator[None]:
        """Hold `request_bytes`' estimated cost while the block runs; OverBudget after the wait."""
        cost = request_bytes * self.cost_per_byte
        if self.budget_bytes <= 0:  # no budget configured: admission off
            yield
            return
        deadline = time.monotonic() + max(0.0, max_wait_s)
        with self._lock:
            ticket = next(self._tickets)
            self._waiting.append(ticket)
            try:
                while not (self._waiting[0] == ticket and self._fits(cost)):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise OverBudget
                    self._lock.wait(remaining)
            finally:
                self._waiting.remove(ticket)
                self._lock.notify_all()  # the next in line may fit now (or be the head)
            self._in_use += cost
            self.peak_in_use = max(self.peak_in_use, self._in_use)
        try:
            yield
        finally:
            with self._lock:
                self._in_use -= cost
                self._lock.notify_all()

    def _fits(self, cost: int) -> bool:
        return self._in_use == 0 or self._in_use + cost <= self.budget_bytes
