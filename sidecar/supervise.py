"""Long-running loops survive unexpected errors: counted, logged once, resumed after a pause.

A few seconds of EMFILE, a full disk or a bug hit by one odd input used to end a
delivery loop for good, and with it delivery, while the receivers went on acknowledging.
Each loop reports failures here instead: the first error of a run of them is logged
(with its type only: a message could quote data), every one is counted in
`spanguard_sidecar_loop_errors_total{loop}`, and the loop waits with capped exponential
backoff before it goes on; the first success after a failure is logged once too.
"""

from __future__ import annotations

import logging
import threading

from spanguard.sidecar.metrics import SidecarMetrics

log = logging.getLogger("spanguard.sidecar")

INITIAL_PAUSE_S = 0.1
MAX_PAUSE_S = 5.0


class LoopGuard:
    """The failure state of one loop; `failed()` pauses, `ok()` marks a recovery."""

    def __init__(
        self, name: str, metrics: SidecarMetrics | None, stop: threading.Event | None = None
    ) -> None:
        self.name = name
        self._metrics = metrics
        self._stop = stop or threading.Event()
        self._pause_s = INITIAL_PAUSE_S
        self.failing = False
        self.errors = 0

    def failed(self, exc: BaseException) -> bool:
        """Count and (once per run of failures) log `exc`, then pause; False when stopping."""
        self.errors += 1
        if self._metrics is not None:
            self._metrics.loop_errors.labels(self.name).inc()
        if not self.failing:
            log.error(
                "%s: unexpected %s; it resumes after a pause (logged once until it recovers)",
                self.name,
                type(exc).__name__,
                exc_info=not isinstance(exc, OSError),
            )
            self.failing = True
        pause, self._pause_s = self._pause_s, min(self._pause_s * 2, MAX_PAUSE_S)
        return not self._stop.wait(pause)

    def ok(self) -> None:
        if self.failing:
            log.warning("%s: recovered after %d errors", self.name, self.errors)
            self.failing = False
        self._pause_s = INITIAL_PAUSE_S
