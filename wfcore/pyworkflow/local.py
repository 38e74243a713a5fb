"""``start_local`` / ``resume_local``: PyWorkflow runs in the test's process, no broker.

A run goes through the real engine and a store (memory by default) on a :class:`LocalRunner`
whose clock is controlled: ``start_local`` runs the workflow until it finishes or waits for
a timer (a ``sleep``, a retry's delay); ``resume_local`` moves the clock to the next timer and
runs on. A one-day sleep takes no time, and the test sees the run suspended in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from wfcore._history import HistoryEvent
from wfcore._local import LocalRunner
from wfcore._models import WorkflowStatus
from wfcore.context.real_loop import close_thread_loop
from wfcore.errors import ConfigurationError, WorkflowNotFoundError
from wfcore.pyworkflow.definitions import WorkflowFunction, declared_on
from wfcore.pyworkflow.events import Event, events
from wfcore.store import StateStore

__all__ = ["LocalRun", "LocalStorage", "resume_local", "start_local"]

T = TypeVar("T")

_SLACK = 0.05
"""Seconds past a sleep's end ``resume_local`` also runs (see there)."""


@dataclass(frozen=True, slots=True)
class LocalRun:
    """A run as ``LocalStorage.get_run`` sees it.

    Attributes:
        run_id: the workflow id.
        workflow_name: the workflow's name.
        status: "pending", "running", "suspended", "completed", "failed" or "cancelled".
        result: what the workflow returned (None unless completed).
        error: the error it failed with (None unless failed).
    """

    run_id: str
    workflow_name: str
    status: str
    result: Any
    error: BaseException | None


class LocalStorage:
    """Where local runs live: a store and the runner (queue and clock) that runs them.

    Args:
        store: a ``StateStore`` (default: a fresh ``MemoryStore``).
    """

    def __init__(self, store: StateStore | None = None) -> None:
        self.runner = LocalRunner(store)
        self.store = self.runner.store
        self._declared: set[str] = set()

    def declare(self, workflow: WorkflowFunction[..., Any]) -> None:
        """Declare on the runner every task the PyWorkflow decorators put on the workflow's
        App (its steps, other workflows it may start)."""
        for d in declared_on(workflow.app):
            if d.name not in self._declared:
                self.runner.task(
                    name=d.name,
                    force_new_workflow=d.force_new_workflow,
                    max_duration=d.max_duration,
                    workflow=True if d.force_new_workflow else None,
                    max_retries=d.max_retries,
                )(d.fn)
                self._declared.add(d.name)

    async def get_run(self, run_id: str) -> LocalRun:
        """The run's status and result.

        Raises:
            WorkflowNotFoundError: no such run in this storage.
        """
        record = self.store.get_workflow(run_id)
        if record is None:
            raise WorkflowNotFoundError(f"no run {run_id!r} in this LocalStorage")
        result = error = None
        if record.status is WorkflowStatus.COMPLETED:
            result = self.runner.engine.result(run_id)
        elif record.status is WorkflowStatus.FAILED:
            try:
                self.runner.engine.result(run_id)
            except Exception as exc:  # the run's error, as handle.result() raises it
                error = exc
        return LocalRun(run_id, record.workflow_type, record.status.value.lower(), result, error)

    def history(self, run_id: str) -> list[HistoryEvent]:
        """The run's wfcore history."""
        return self.runner.engine.history(run_id)

    def events(self, run_id: str) -> list[Event]:
        """The run's PyWorkflow events (``wfcore.pyworkflow.events``)."""
        return events(self.history(run_id))

    def run_until_waiting(self) -> None:
        """Run every queued message, and the timers already due, in this thread."""
        self.runner.run_for(0)


# The storage of each local run, for resume_local(run_id) without storage= (test runs only).
_STORAGES: dict[str, LocalStorage] = {}


async def start_local(
    workflow: WorkflowFunction[..., Any],
    *args: Any,
    storage: LocalStorage | None = None,
    idempotency_key: str | None = None,
    **kwargs: Any,
) -> str:
    """Start ``workflow`` in this process and run it until it finishes or waits on a timer;
    its run id. Steps run in this process too (with their retries, on the runner's clock).

    Raises:
        ConfigurationError: ``workflow`` is not an ``@app.workflow``.
    """
    if not isinstance(workflow, WorkflowFunction):
        raise ConfigurationError(
            f"start_local() takes a function decorated with @app.workflow, got {workflow!r}"
        )
    store = storage if storage is not None else LocalStorage()
    store.declare(workflow)
    args, kwargs = workflow.bind(args, kwargs)

    def run() -> str:
        record, _ = store.runner.engine.start(
            store.runner.engine.task(workflow.name), args, kwargs, idempotency_key=idempotency_key
        )
        store.run_until_waiting()
        return record.workflow_id

    run_id = await _in_thread(run)
    _STORAGES[run_id] = store
    return run_id


async def resume_local(run_id: str, *, storage: LocalStorage | None = None) -> LocalRun:
    """Move the clock to the end of the sleep the run is in (else to the next delayed
    wake-up of ``storage``: a retry) and run on until the run finishes or waits on another
    timer; the run as it is then.

    Raises:
        WorkflowNotFoundError: no such run (pass the ``storage`` it was started with).
    """
    store = storage if storage is not None else _STORAGES.get(run_id)
    if store is None:
        raise WorkflowNotFoundError(
            f"no local run {run_id!r}: pass the LocalStorage it was started with"
        )
    runner = store.runner

    def run() -> None:
        # The end of the sleep the run is in (a long one wakes in hops: jump them all), else
        # the next delayed wake-up (a retry's delay).
        due = _sleep_end(store.history(run_id)) or runner.next_timer()
        if due is not None:
            runner.advance(max(0.0, due - runner.now()))
        # The wake-up of a timer is queued for a clock reading taken a little after the one
        # its fire time came from: the slack makes it due too.
        runner.run_for(_SLACK)

    await _in_thread(run)
    return await store.get_run(run_id)


async def _in_thread(fn: Callable[[], T]) -> T:
    """``fn()`` in a worker thread (a workflow body runs its own deterministic event loop,
    which cannot run inside the caller's), closing the event loop steps ran on there."""

    def call() -> T:
        try:
            return fn()
        finally:
            close_thread_loop()

    return await asyncio.to_thread(call)


def _sleep_end(history: list[HistoryEvent]) -> float | None:
    """The earliest fire time of the timers in ``history`` that have not fired."""
    fired = {e.seq for e in history if e.kind == "sleep_fired"}
    pending = [float(e.value) for e in history if e.kind == "sleep" and e.seq not in fired]
    return min(pending, default=None)
