"""The body of the ``wfcore.steps.run`` task: a workflow walking its step list.

This is workflow code (replayed after every suspension), so everything it decides comes
from recorded operations: each step is a child task (``wf.start_task`` + ``wf.wait``; one
per function of a parallel step), a retry waits a recorded ``wf.sleep`` backoff (no worker
held), and ``ctx`` is saved as workflow data (``wf.set_data``) after each step. A worker
that dies mid-way resumes here: finished steps replay from their recorded results.

Order: NORMAL steps; after a NORMAL failure (without ``cont_on_err``) ``ctx["normal_error"]``
and the ERROR steps; then the EXIT steps, always, also when the workflow was cancelled
(children started after the cancellation was delivered are shielded from it, so they run).
A failure is raised after all that (``StepFailedError``), a cancellation re-raised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from wfcore import TaskHandle, current
from wfcore.errors import TaskFailedError, WorkflowCancelled
from wfcore.steps.errors import StepFailedError
from wfcore.steps.model import Scope, StepSpec

if TYPE_CHECKING:
    from wfcore import WorkflowContext
    from wfcore.steps.registry import Plan, StepTasks
    from wfcore_dramatiq import DramatiqTask

__all__ = ["CTX_KEY", "FAILURES_KEY", "drive"]

CTX_KEY = "steps.ctx"
"""Workflow data holding the run's ``ctx`` as of its last finished step."""
FAILURES_KEY = "steps.failures"
"""Workflow data listing the failed steps of a run that failed."""

_SKIPPED = "wfcore.errors.WorkflowCancelled"
"""The error of a child that never ran because its workflow was cancelled while it queued."""

T = TypeVar("T")


def drive(
    tasks: StepTasks, plan: list[dict[str, Any]], ctx: dict[str, Any], backoff: list[float]
) -> dict[str, Any]:
    """Run the steps of ``plan`` on ``ctx``; the final ``ctx``."""
    wf = current()
    return _Driver(tasks, wf, ctx, backoff).run(tasks.plan(wf.workflow.workflow_id, plan))


class _Driver:
    def __init__(
        self, tasks: StepTasks, wf: WorkflowContext, ctx: dict[str, Any], backoff: list[float]
    ) -> None:
        self.tasks = tasks
        self.wf = wf
        self.ctx = ctx
        self.first_delay, self.max_delay = backoff
        self.failures: list[dict[str, Any]] = []
        self.cancelled: WorkflowCancelled | None = None
        self.exiting = False

    def run(self, scopes: Plan) -> dict[str, Any]:
        try:
            self._main(scopes[Scope.NORMAL], scopes[Scope.ERROR])
        except WorkflowCancelled as exc:
            self.cancelled = exc
            self.ctx["cancelled"] = True
            self._op(self.wf.set_data, CTX_KEY, self.ctx)
        self.exiting = True  # from here on a cancellation is noted, not obeyed
        for step in scopes[Scope.EXIT]:
            self._note(self._step(step))
        if self.failures:
            self._op(self.wf.set_data, FAILURES_KEY, self.failures)
        if self.cancelled is not None:
            raise self.cancelled
        if self.failures:
            first = self.failures[0]
            raise StepFailedError(
                f"step {first['step']!r} failed: {first['type']}: {first['error']}",
                step=first["step"],
                error_type=first["type"],
                error_message=first["error"],
                failures=self.failures,
            )
        return self.ctx

    def _main(self, normal: list[StepSpec], error_steps: list[StepSpec]) -> None:
        for step in normal:
            failure = self._step(step)
            if failure is None or step.cont_on_err:
                continue  # a cont_on_err failure is in the history (its child), not raised
            self._note(failure)
            self.ctx["normal_error"] = {
                k: failure[k] for k in ("step", "error", "type", "branch") if k in failure
            }
            self._op(self.wf.set_data, CTX_KEY, self.ctx)
            for handler in error_steps:
                self._note(self._step(handler))
            return

    def _step(self, step: StepSpec) -> dict[str, Any] | None:
        """Run one step (all its functions) with its retries; None, or its failure."""
        wf = self.wf
        tasks = [self.tasks.task(name) for name in step.tasks]
        values: dict[int, list[Any]] = {}
        pending = list(range(len(tasks)))
        attempt = 0
        while True:
            if len(pending) == 1:  # one child: one call (replayed at every resume)
                errors = self._one(tasks, pending[0], step, values)
            else:
                handles = {
                    i: self._op(wf.start_task, tasks[i], self.ctx, step.name, step.timeout)
                    for i in pending
                }
                errors = self._collect(handles, values)
            pending = sorted(errors)
            if not pending:
                break
            # Children a cancellation skipped never ran: start them again (shielded now),
            # without counting an attempt.
            failed = [i for i in pending if not (self.exiting and errors[i].error_type == _SKIPPED)]
            if not failed:
                continue
            if attempt >= step.retries:
                branch = step.tasks[failed[0]].rsplit(".", 1)[-1] if step.parallel else None
                return self._failed(step, errors[failed[0]], branch)
            delay = min(self.first_delay * 2**attempt, self.max_delay)
            self._op(wf.sleep, delay)
            attempt += 1
        results = [values[i] for i in range(len(tasks))]
        for _value, changed, removed in results:
            self.ctx.update(changed)
            for key in removed:
                self.ctx.pop(key, None)
        self.ctx[step.name] = [r[0] for r in results] if step.parallel else results[0][0]
        self._op(wf.set_data, CTX_KEY, self.ctx)
        return None

    def _one(
        self,
        tasks: list[DramatiqTask[..., Any]],
        i: int,
        step: StepSpec,
        values: dict[int, list[Any]],
    ) -> dict[int, TaskFailedError]:
        """Run function ``i`` of ``step`` as a child and wait; its failure, if any."""
        try:
            result = self._op(self.wf.execute_task, tasks[i], self.ctx, step.name, step.timeout)
        except TaskFailedError as exc:
            return {i: exc}
        values[i] = result.result
        return {}

    def _collect(
        self, handles: dict[int, TaskHandle], values: dict[int, list[Any]]
    ) -> dict[int, TaskFailedError]:
        """Wait for every handle (suspends once); record values, return the failures."""
        try:
            results = self._op(self.wf.wait, *handles.values())
        except TaskFailedError:
            pass  # which ones failed: each one's outcome is read below
        else:  # all succeeded: no second wait (on every replay) per handle
            for i, result in zip(handles, results, strict=True):
                values[i] = result.result
            return {}
        errors: dict[int, TaskFailedError] = {}
        for i, handle in handles.items():
            try:
                values[i] = self.wf.wait(handle)[0].result
            except TaskFailedError as exc:
                errors[i] = exc
        return errors

    def _failed(self, step: StepSpec, error: TaskFailedError, branch: str | None) -> dict[str, Any]:
        failure: dict[str, Any] = {
            "step": step.name,
            "scope": step.scope.value,
            "type": error.error_type,
            "error": error.error_message,
        }
        if branch is not None:
            failure["branch"] = branch
        return failure

    def _note(self, failure: dict[str, Any] | None) -> None:
        if failure is not None:
            self.failures.append(failure)

    def _op(self, op: Callable[..., T], *args: Any) -> T:
        """A ``wf`` operation; while EXIT steps run, a cancellation delivered at it is noted
        and the operation done again (it did not happen; what it starts now is shielded)."""
        if not self.exiting:
            return op(*args)  # the common case, at every replayed operation: no loop
        while True:
            try:
                return op(*args)
            except WorkflowCancelled as exc:
                if not self.exiting:
                    raise
                self.cancelled = exc
                self.ctx["cancelled"] = True
