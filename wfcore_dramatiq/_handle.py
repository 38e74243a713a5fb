"""``WorkflowHandle``: the client's view of one workflow (status, result, history, children)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from wfcore import HistoryEvent, WorkflowIdentity, WorkflowStatus, export_history
from wfcore.engine import outcome_value

if TYPE_CHECKING:
    from wfcore_dramatiq._app import App

__all__ = ["FinishedSignal", "WorkflowHandle"]

R = TypeVar("R")

_FIRST_POLL = 0.005
_MAX_POLL = 0.5


class WorkflowHandle(Generic[R]):
    """A started workflow. Cheap to create: it holds only the id."""

    def __init__(self, app: App, workflow_id: str) -> None:
        self._app = app
        self.workflow_id = workflow_id

    @property
    def identity(self) -> WorkflowIdentity:
        """The workflow's identity (id, type, parent, root)."""
        return self._app.engine.workflow(self.workflow_id).identity

    def status(self) -> WorkflowStatus:
        """The workflow's current status (a read: it starts no embedded worker)."""
        return self._app.engine.workflow(self.workflow_id).status

    def result(self, timeout: float | None = None) -> R:
        """Block the caller (never a worker) until the workflow finishes; its result.

        Waiting is a notification from in-process workers, or a poll whose interval grows
        from 5 ms to 0.5 s for workers elsewhere: no busy loop. On the embedded App it starts
        this process's worker and recovery sweep first, so work left by a process that died
        (its in-memory messages lost) resumes while the caller waits.

        Raises:
            WorkflowFailedError: the workflow failed.
            WorkflowCancelledError: it was cancelled.
            WorkflowNotFoundError: there is no such workflow.
            TimeoutError: it did not finish within ``timeout`` seconds.
        """
        engine = self._app.engine
        deadline = None if timeout is None else time.monotonic() + timeout
        self._app.start_worker()
        pause = _FIRST_POLL
        while True:
            version = self._app._finished.version
            outcome = engine.outcome(self.workflow_id)
            if outcome is not None:
                return outcome_value(self.workflow_id, outcome)  # type: ignore[no-any-return]
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"workflow {self.workflow_id!r} did not finish within {timeout} s "
                        f"(status {self.status().value}); call result() again to keep waiting"
                    )
                pause = min(pause, left)
            self._app._finished.wait(version, pause)
            pause = min(pause * 2, _MAX_POLL)

    def cancel(self) -> bool:
        """Cancel the workflow and its descendants (persistent).

        Running and suspended invocations get ``WorkflowCancelled`` at their next ``wf``
        operation, so ``finally``/``except WorkflowCancelled`` cleanup runs; the final status
        is CANCELLED and ``result()`` raises ``WorkflowCancelledError``.

        On the embedded App it starts this process's worker, which runs the cleanup.

        Returns:
            False if the workflow had already finished (nothing was changed), else True.
        """
        self._app.start_worker()
        return self._app.engine.cancel(self.workflow_id)

    def history(self) -> list[HistoryEvent]:
        """Lifecycle events and recorded operations of every invocation, in time order."""
        return self._app.engine.history(self.workflow_id)

    def export_history(self, path: str | os.PathLike[str] | None = None) -> bytes:
        """The workflow tree's history as a self-contained, versioned msgpack file.

        Written to ``path`` when given (replay it with ``wfcore replay`` or ``Replayer``).
        """
        data = export_history(self._app.store, self.workflow_id)
        if path is not None:
            Path(path).write_bytes(data)
        return data

    def children(self) -> list[WorkflowIdentity]:
        """Identities of the child workflows this workflow started."""
        self._app.engine.workflow(self.workflow_id)
        return [w.identity for w in self._app.store.child_workflows(self.workflow_id)]

    def __repr__(self) -> str:
        return f"WorkflowHandle({self.workflow_id!r})"


class FinishedSignal:
    """Wakes waiting ``result()`` calls when an in-process worker finishes a workflow."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._waiters = 0
        self.version = 0

    def notify(self) -> None:
        """Something finished: wake all waiters so they re-check.

        The version moves first; a waiter registers before it checks the version, so one
        that is not registered yet will see the new version, and worker threads take the
        lock only when somebody waits.
        """
        self.version += 1
        if self._waiters:
            with self._cond:
                self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> None:
        """Sleep until a notification newer than ``seen`` or ``timeout`` seconds."""
        with self._cond:
            self._waiters += 1
            try:
                self._cond.wait_for(lambda: self.version != seen, timeout)
            finally:
                self._waiters -= 1
