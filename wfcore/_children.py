"""Children of an invocation: their records, the handle ``start_task`` returns, their results."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wfcore._codec import Codec
from wfcore._durations import deadline_after
from wfcore._history import decode_outcome, error_info
from wfcore._identity import child_invocation_id, child_workflow_id
from wfcore._models import InvocationRecord, WorkflowIdentity, WorkflowRecord, WorkflowStatus
from wfcore._tasks import TaskResult, TaskSpec
from wfcore.errors import TaskFailedError

if TYPE_CHECKING:
    from wfcore._context import WorkflowContext

__all__ = ["TaskHandle", "child_records", "child_result"]


class TaskHandle:
    """A child started with ``wf.start_task``; ``result()`` waits for it."""

    __slots__ = ("_ctx", "invocation_id", "seq", "task_name", "workflow")

    def __init__(
        self,
        ctx: WorkflowContext,
        seq: int,
        invocation_id: str,
        task_name: str,
        workflow: WorkflowIdentity,
    ) -> None:
        self._ctx = ctx
        self.seq = seq
        self.invocation_id = invocation_id
        self.task_name = task_name
        self.workflow = workflow

    def result(self) -> Any:
        """The child's return value; suspends the caller until it is there.

        Raises:
            TaskFailedError: the child failed permanently.
        """
        return self._ctx.wait(self)[0].result

    def __repr__(self) -> str:
        return f"TaskHandle({self.task_name!r}, invocation_id={self.invocation_id!r})"


def child_records(
    parent: InvocationRecord,
    parent_workflow: WorkflowIdentity,
    seq: int,
    spec: TaskSpec,
    args: bytes,
    *,
    now: float,
    shielded: bool,
) -> tuple[InvocationRecord, WorkflowRecord | None]:
    """The record of the child ``parent`` starts at ``seq``, and, for a ``force_new_workflow``
    task, the record of the child workflow it roots (its id derived from the child's)."""
    inv_id = child_invocation_id(parent.invocation_id, seq)
    workflow_id = parent_workflow.workflow_id
    if spec.force_new_workflow:
        workflow_id = child_workflow_id(inv_id)
    child = InvocationRecord(
        invocation_id=inv_id,
        workflow_id=workflow_id,
        task_name=spec.name,
        args=args,
        parent_workflow_id=parent_workflow.workflow_id,
        parent_invocation_id=parent.invocation_id,
        parent_seq=seq,
        parent_task_name=parent.task_name,
        cancel_shielded=shielded,
        created_at=now,
        updated_at=now,
    )
    if not spec.force_new_workflow:
        return child, None
    workflow = WorkflowRecord(
        deadline=deadline_after(now, spec.max_duration),
        workflow_id=workflow_id,
        workflow_type=spec.name,
        parent_workflow_id=parent_workflow.workflow_id,
        root_workflow_id=parent_workflow.root_workflow_id,
        root_invocation_id=inv_id,
        parent_invocation_id=parent.invocation_id,
        created_at=now,
        updated_at=now,
    )
    return child, workflow


def child_result(codec: Codec, outcome: bytes, handle: TaskHandle) -> TaskResult:
    """What waiting on ``handle`` gives, from the child's recorded outcome.

    Raises:
        TaskFailedError: the child failed or was cancelled.
    """
    decoded = decode_outcome(codec, outcome, f"child {handle.invocation_id!r}")
    if decoded.status is WorkflowStatus.COMPLETED:
        return TaskResult(decoded.value, handle.workflow, handle.invocation_id, handle.task_name)
    error_type, message, traceback = error_info(decoded.value)
    raise TaskFailedError(
        f"child task {handle.task_name!r} (invocation {handle.invocation_id!r}) "
        f"{decoded.status.value.lower()}: {error_type}: {message}",
        task_name=handle.task_name,
        invocation_id=handle.invocation_id,
        error_type=error_type,
        error_message=message,
        traceback=traceback,
    )
