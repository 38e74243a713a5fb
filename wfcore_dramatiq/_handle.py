"""``WorkflowHandle``: the client's view of one workflow (status, result, history, children)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from wfcore import HistoryEvent, WorkflowIdentity, WorkflowStatus, export_history
from wfcore._identity import run_of
from wfcore.engine import outcome_value
from wfcore.errors import WorkflowNotRunningError

if TYPE_CHECKING:
    from wfcore_dramatiq._app import App

__all__ = ["FinishedSignal", "WorkflowHandle"]

R = TypeVar("R")

_FIRST_POLL = 0.005
_MAX_POLL = 0.5
_SET: Any = object()  # wait_data without equals=: any value will do
_NOT_YET: Any = object()  # what _poll's check returns until it is done


class WorkflowHandle(Generic[R]):
    """A started workflow. Cheap to create: it holds only the id."""

    def __init__(self, app: App, workflow_id: str) -> None:
        self._app = app
        self.workflow_id = workflow_id

    @property
    def identity(self) -> WorkflowIdentity:
        """The workflow's identity (id, type, parent, root)."""
        return self._app.engine.workflow(self.workflow_id).identity

    @property
    def run(self) -> int:
        """Which run of the workflow is the current one: 1, then one more per
        ``wf.continue_as_new`` (a read of the store)."""
        return run_of(self._app.engine.workflow(self.workflow_id).root_invocation_id)[1]

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
        self._app.start_worker()

        def finished() -> Any:
            outcome = engine.outcome(self.workflow_id)
            return _NOT_YET if outcome is None else outcome_value(self.workflow_id, outcome)

        def timed_out() -> str:
            return (
                f"workflow {self.workflow_id!r} did not finish within {timeout} s "
                f"(status {self.status().value}); call result() again to keep waiting"
            )

        return self._poll(finished, timed_out, timeout)  # type: ignore[no-any-return]

    def signal(self, name: str, payload: Any = None, *, signal_id: str | None = None) -> None:
        """Send signal ``name`` with ``payload`` to the workflow; durable when this returns.

        It goes to the oldest ``wf.wait_signal(name)`` waiting (woken by exactly one
        message), or is buffered, in order, for the next ``wait_signal``/``poll_signal`` of
        that name. With ``signal_id``, retrying the call is safe: a signal with an id
        accepted before is not stored again. On the embedded App it starts this process's
        worker, which runs the woken workflow.

        Raises:
            WorkflowNotRunningError: the workflow has finished (``error.status`` says how).
            WorkflowNotFoundError: there is no such workflow.
            EncodeError: ``payload`` cannot be encoded; nothing was stored.
            ConfigurationError: ``name`` or ``signal_id`` is not a non-empty str.
        """
        self._app.start_worker()
        self._app.engine.signal(self.workflow_id, name, payload, signal_id=signal_id)

    def get_data(self, key: str, default: Any = None) -> Any:
        """The workflow's data value under ``key`` (``wf.set_data``), or ``default``.

        A read of the store: no replay, no message, no worker started.

        Raises:
            WorkflowNotFoundError: there is no such workflow.
        """
        return self._app.engine.get_data(self.workflow_id, key, default)

    def data(self) -> dict[str, Any]:
        """All of the workflow's data, by key (a read, like ``get_data``)."""
        return self._app.engine.data(self.workflow_id)

    def wait_data(self, key: str, *, equals: Any = _SET, timeout: float | None = None) -> Any:
        """Block the caller until the workflow's data ``key`` is set (to ``equals``, when
        given); its value.

        Polls the store, every 5 ms at first, backing off to every 0.5 s (a notification
        from in-process workers cuts a pause short); nothing runs in the workflow.

        Raises:
            TimeoutError: not so within ``timeout`` seconds.
            WorkflowNotRunningError: the workflow finished without it (it never will).
            WorkflowNotFoundError: there is no such workflow.
        """
        engine = self._app.engine
        wanted = "set" if equals is _SET else f"equal to {equals!r}"

        def reached() -> Any:
            status = engine.workflow(self.workflow_id).status
            value = engine.get_data(self.workflow_id, key, _SET)
            if value is not _SET and (equals is _SET or value == equals):
                return value
            if status.finished:
                raise WorkflowNotRunningError(
                    f"workflow {self.workflow_id!r} is {status.value} and its data {key!r} is "
                    f"not {wanted}; it will not change any more",
                    workflow_id=self.workflow_id,
                    status=status.value,
                )
            return _NOT_YET

        def timed_out() -> str:
            return (
                f"the data {key!r} of workflow {self.workflow_id!r} was not {wanted} within "
                f"{timeout} s; call wait_data again to keep waiting"
            )

        return self._poll(reached, timed_out, timeout)

    def _poll(
        self, check: Callable[[], Any], timed_out: Callable[[], str], timeout: float | None
    ) -> Any:
        """``check()`` until it returns something other than ``_NOT_YET``: a notification
        from in-process workers, or a poll every 5 ms growing to 0.5 s; ``TimeoutError``
        with ``timed_out()`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = _FIRST_POLL
        while True:
            version = self._app._finished.version
            value = check()
            if value is not _NOT_YET:
                return value
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(timed_out())
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

    def resume(self) -> None:
        """Continue this FAILED or CANCELLED workflow from where it stopped, on the current
        code: recorded operations replay, what failed runs again (see docs/repair.md).

        On the embedded App it starts this process's worker, which runs it.

        Raises:
            RepairError: it is not FAILED or CANCELLED (completed, or running: resumed
                already); nothing was written.
            NonDeterminismError: the current code does not replay its history; nothing was
                written.
        """
        self._app.engine.resume(self.workflow_id)
        self._app.start_worker()

    def fork(
        self,
        *,
        from_seq: int | None = None,
        from_failure: bool = False,
        from_step: str | None = None,
        fork_id: str | None = None,
    ) -> WorkflowHandle[R]:
        """Start a new workflow from a recorded prefix of this one (see docs/repair.md).

        Exactly one of ``from_seq`` (operations from this seq of the root run again),
        ``from_failure`` (from the first failed operation) or ``from_step`` (from the last
        step or child task of that name). The same ``fork_id`` returns the same fork.

        Raises:
            ConfigurationError: a bad selector, a seq outside the history, a name never
                recorded; nothing was written.
            RepairError: the prefix holds a child that has not finished.
            NonDeterminismError: the current code does not replay the prefix.
        """
        fork, _ = self._app.engine.fork(
            self.workflow_id,
            from_seq=from_seq,
            from_failure=from_failure,
            from_step=from_step,
            fork_id=fork_id,
        )
        self._app.start_worker()
        return WorkflowHandle(self._app, fork.workflow_id)

    def forks(self) -> list[str]:
        """Ids of the workflows forked from this one (oldest first).

        A scan of the workflows the store lists (up to 10 000 newest): for an operator's
        view, not for a hot path.
        """
        forked = [
            w
            for w in self._app.store.list_workflows(limit=10_000)
            if w.forked_from == self.workflow_id
        ]
        return [w.workflow_id for w in sorted(forked, key=lambda w: w.created_at)]

    @property
    def forked_from(self) -> str | None:
        """The id of the workflow this one was forked from, or None."""
        return self._app.engine.workflow(self.workflow_id).forked_from

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
