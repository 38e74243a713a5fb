"""``RecoverySweeper``: the recovery sweep, run in a thread of every worker process."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable

__all__ = ["RecoverySweeper"]

log = logging.getLogger("wfcore.recovery")


class RecoverySweeper:
    """Calls ``sweep`` when started, then every ``interval`` seconds (with jitter), until stopped.

    Safe with many worker processes: the store hands each stale invocation to one sweeper
    per stale period, and a duplicate message would only cause a harmless replay.
    """

    def __init__(self, sweep: Callable[[], object], interval: float) -> None:
        self._sweep = sweep
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the sweeping thread (idempotent)."""
        if self._thread is not None or self._interval <= 0:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="wfcore-recovery", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout=10)

    def _run(self) -> None:
        # The first sweep at once: a process started after a crash (or an embedded App in a
        # new process, whose in-memory broker lost every message) resumes what is due now.
        # Jitter spreads the later sweeps of many workers started at once.
        while True:
            try:
                self._sweep()
            except Exception:  # a sweep must never kill the thread; the next one retries
                log.exception("recovery sweep failed; retrying in %.0f s", self._interval)
            if self._stop.wait(self._interval * random.uniform(0.5, 1.0)):
                return
