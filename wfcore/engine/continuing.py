"""Committing ``wf.continue_as_new``: the run ends, the workflow goes on as a new run.

One atomic commit (``Batch.continue_with``) finishes the root invocation with the
``continued_run`` marker (a ``task_continued`` event last in its history, naming the next
run), creates the next run's root invocation and makes it the workflow's root; then the
message that runs it is sent (or written with the commit by a store that ``writes_pushes``).
"""

from __future__ import annotations

from wfcore._history import encode_outcome
from wfcore._models import (
    CommitResult,
    Finish,
    InvocationRecord,
    InvocationRef,
    WorkflowStatus,
)
from wfcore.context import WorkflowContext
from wfcore.context.continuing import continued_run, run_invocation_id, run_of
from wfcore.context.runtime import _ContinueAsNew
from wfcore.engine.base import EngineBase

__all__ = ["ContinuingRuns"]


class ContinuingRuns(EngineBase):
    """The engine's side of ``wf.continue_as_new``."""

    def _continue(
        self, ctx: WorkflowContext, inv: InvocationRecord, signal: _ContinueAsNew
    ) -> CommitResult:
        """Commit the end of this run and the start of the next; the commit's result."""
        first, run = run_of(inv.invocation_id)
        next_id = run_invocation_id(first, run + 1)
        now = self.clock()
        following = InvocationRecord(
            invocation_id=next_id,
            workflow_id=inv.workflow_id,
            task_name=inv.task_name,
            args=signal.args_data,
            parent_workflow_id=inv.parent_workflow_id,
            parent_invocation_id=inv.parent_invocation_id,
            parent_seq=inv.parent_seq,
            parent_task_name=inv.parent_task_name,
            cancel_shielded=inv.cancel_shielded,
            created_at=now,
            updated_at=now,
        )
        marker = continued_run(next_id, run + 1)
        what = f"end of run {run} of {inv.workflow_id!r}"
        outcome = encode_outcome(self.codec, WorkflowStatus.COMPLETED, marker, what)
        ctx._lifecycle("task_continued", marker["continued_as_new"])
        ctx._new_children.append(following)
        ctx._to_dispatch.append(InvocationRef(inv.workflow_id, next_id, inv.task_name))
        finish = Finish(WorkflowStatus.COMPLETED, outcome)
        return ctx._commit(finish=finish, continue_with=next_id)
