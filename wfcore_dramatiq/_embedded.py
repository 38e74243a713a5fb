"""``EmbeddedWorker``: Dramatiq worker threads inside this process, for the default App."""

from __future__ import annotations

import atexit
import threading

import dramatiq

__all__ = ["EmbeddedWorker"]


class EmbeddedWorker:
    """A real ``dramatiq.Worker`` on the App's broker, started on first use."""

    def __init__(self, broker: dramatiq.Broker, threads: int) -> None:
        self._broker = broker
        self._threads = threads
        self._lock = threading.Lock()
        self._worker: dramatiq.Worker | None = None
        self._booted = False

    def start(self) -> None:
        """Start the worker threads unless they run already."""
        with self._lock:
            if self._worker is not None:
                return
            if not self._booted:
                # What the `dramatiq` CLI does in each worker process before its Worker starts:
                # middlewares start their helpers here (TimeLimit's timer thread, without which
                # `time_limit` is silently ignored). Once per broker: the helpers are threads.
                self._broker.emit_after("process_boot")
                self._booted = True
            worker = dramatiq.Worker(self._broker, worker_threads=self._threads, worker_timeout=50)
            worker.start()
            self._worker = worker
            atexit.register(self.stop)

    def stop(self) -> None:
        """Stop the worker threads (waiting for running messages) if they run."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            atexit.unregister(self.stop)
            worker.stop(timeout=10_000)
