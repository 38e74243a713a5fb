"""The engine's configuration and state, shared by its parts."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

from wfcore._codec import Codec
from wfcore._dispatch import Dispatcher, Outbox
from wfcore._history_cache import HistoryCache
from wfcore._models import InvocationRecord, QueuePush, QueueReceipt, WorkflowRecord, WorkflowStatus
from wfcore._tasks import TaskSpec, spec_of
from wfcore.context import Runtime
from wfcore.context.real_loop import run_coroutine
from wfcore.errors import ConfigurationError
from wfcore.observability.observer import Observer, Observers
from wfcore.store import StateStore

__all__ = ["EngineBase", "log"]

log = logging.getLogger("wfcore.engine")


class EngineBase:
    """What every part of :class:`~wfcore.engine.Engine` works with: the store, the codec,
    the dispatch port, the clock, the registered tasks and the runs in progress."""

    def __init__(
        self,
        *,
        store: StateStore,
        dispatcher: Dispatcher,
        tasks: Callable[[str], TaskSpec],
        codec: Codec | None = None,
        max_conflicts: int = 20,
        clock: Callable[[], float] = time.time,
        max_sleep_hop: float = 900.0,
        outbox: Outbox | None = None,
        heartbeat_interval: float = 15.0,
        resolve_task: Callable[[object], TaskSpec] = spec_of,
        run_coroutine: Callable[[Coroutine[Any, Any, Any]], Any] = run_coroutine,
        history_cache: HistoryCache | None = None,
    ) -> None:
        if outbox is not None and not getattr(store, "writes_pushes", False):
            raise ConfigurationError(
                f"{store!r} cannot write queue messages in its commits, so it cannot be "
                "given an outbox; pass outbox=None"
            )
        self.store = store
        self.codec = codec or Codec()
        self.dispatcher = dispatcher
        self._tasks = tasks
        self.clock = clock
        self._outbox = outbox
        # What wf.start_task accepts as a task (an integration may widen it, e.g. to actors).
        self.resolve_task = resolve_task
        # Plain async tasks and async steps run their coroutines here (a real event loop).
        self._runtime = Runtime(
            store, self.codec, dispatcher, clock, outbox, resolve_task, run_coroutine
        )
        self._max_sleep_hop = max_sleep_hop
        self._max_conflicts = max_conflicts
        # Runs in progress in this process, by (workflow id, invocation id, task name): a
        # tuple hashes in C, a frozen dataclass in Python, and this is done on every message.
        self._running: dict[tuple[str, str, str], int] = {}
        self._running_lock = threading.Lock()
        # The thread marking those runs alive (see .heartbeats), started by the first run.
        self._heartbeat_interval = heartbeat_interval
        self._heartbeat_thread: threading.Thread | None = None
        # Told about runs, ends and sweeps (metrics, tracing); None costs nothing per run.
        self.observer: Observer | None = None
        # Histories this process ran, so a resume reads and decodes only what is new
        # (see wfcore._history_cache); HistoryCache(max_invocations=0) turns it off.
        self.histories = HistoryCache() if history_cache is None else history_cache

    def observe(self, observer: Observer) -> None:
        """Tell ``observer`` about this engine's runs, workflow ends and recovery sweeps
        (see :class:`~wfcore.observability.observer.Observer`); added to any others."""
        current = self.observer
        if current is None:
            self.observer = observer
        elif isinstance(current, Observers):
            current.observers.append(observer)
        else:
            self.observer = Observers([current, observer])

    def task(self, name: str) -> TaskSpec:
        """The task registered under ``name``.

        Raises:
            ConfigurationError: no such task.
        """
        return self._tasks(name)

    def _ended(self, workflow: WorkflowRecord, invocation_id: str, status: WorkflowStatus) -> None:
        """Tell the observer a workflow ended, if ``invocation_id`` (just finished with
        ``status``) is its root."""
        if self.observer is not None and invocation_id == workflow.root_invocation_id:
            self.observer.workflow_ended(workflow.identity, status)

    def _receipt(self, inv: InvocationRecord) -> QueueReceipt | None:
        """The delivery of the message running ``inv``, for the write ending its run."""
        return None if self._outbox is None else self._outbox.receipt(inv.ref)

    def _written(self, push: QueuePush | None) -> bool:
        """After a write that carried ``push`` (and wrote it): its after-send bookkeeping.
        False when there was no push, so the caller sends the message itself."""
        if push is None or self._outbox is None:
            return False
        self._outbox.pushed(push)
        return True
