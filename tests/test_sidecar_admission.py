"""Admission by estimated cost: requests wait their turn for the memory budget, first come
first served, one alone always fits, and a request that never fits is refused (retryable)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from support_sidecar import grpc_export, make_request, sidecar_config, spans_seqs, wait_for

from spanguard.sidecar.admission import MemoryBudget, OverBudget


def _hold(
    budget: MemoryBudget,
    nbytes: int,
    entered: threading.Event,
    release: threading.Event,
    order: list[int],
    tag: int,
) -> threading.Thread:
    def run() -> None:
        with budget.admit(nbytes, max_wait_s=30):
            order.append(tag)
            entered.set()
            release.wait(30)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_request_larger_than_the_budget_is_admitted_alone() -> None:
    budget = MemoryBudget(budget_bytes=100, cost_per_byte=8)
    with budget.admit(1000):
        assert budget.in_use == 8000
    assert budget.in_use == 0


def test_requests_wait_in_arrival_order_and_never_exceed_the_budget_together() -> None:
    budget = MemoryBudget(budget_bytes=800, cost_per_byte=8)  # 100 request bytes
    order: list[int] = []
    release_first = threading.Event()
    first_in = threading.Event()
    first = _hold(budget, 80, first_in, release_first, order, 1)
    assert first_in.wait(10)
    # a big one arrives, then a small one that would fit now: the small one waits its turn
    big_in, big_release = threading.Event(), threading.Event()
    big = _hold(budget, 90, big_in, big_release, order, 2)
    assert wait_for(lambda: budget.waiting == 1)  # the big one is queued
    small_in, small_release = threading.Event(), threading.Event()
    small = _hold(budget, 10, small_in, small_release, order, 3)
    assert wait_for(lambda: budget.waiting == 2)
    assert not small_in.is_set()
    release_first.set()
    assert big_in.wait(10) and small_in.wait(10)  # 90 + 10 fit together once the first is out
    assert order == [1, 2, 3]
    assert budget.peak_in_use <= 800
    big_release.set()
    small_release.set()
    for thread in (first, big, small):
        thread.join(10)
    assert budget.in_use == 0


def test_a_request_that_never_fits_within_its_wait_is_refused() -> None:
    budget = MemoryBudget(budget_bytes=800, cost_per_byte=8)
    entered, release = threading.Event(), threading.Event()
    holder = _hold(budget, 100, entered, release, [], 1)
    assert entered.wait(10)
    with pytest.raises(OverBudget), budget.admit(50, max_wait_s=0.05):
        pass
    release.set()
    holder.join(10)
    with budget.admit(50, max_wait_s=0):  # room again
        assert budget.in_use == 400


def test_the_sidecar_works_large_requests_in_turn_and_accepts_them_all(
    tmp_path: Path, start_sidecar: Any
) -> None:
    out = tmp_path / "out.jsonl"
    # a budget of about one request's cost: concurrent requests are worked on one at a time
    config = sidecar_config(tmp_path, exporters={"file": {"path": str(out)}}, max_in_flight_memory="4MB")
    sidecar = start_sidecar(config)
    requests = [list(range(start, start + 400)) for start in range(0, 2000, 400)]
    codes: list[str] = []

    def send(seqs: list[int]) -> None:
        codes.append(grpc_export(sidecar.grpc_address, make_request(seqs, extra_attrs=2), timeout_s=60).name)

    threads = [threading.Thread(target=send, args=(seqs,)) for seqs in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert codes == ["OK"] * len(requests)
    assert wait_for(lambda: spans_seqs(out) == set(range(2000)))
    assert sidecar.terminate() == 0
