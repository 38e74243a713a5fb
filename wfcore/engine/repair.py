"""Repairs of finished workflows: ``resume`` (a FAILED or CANCELLED workflow continues where
it stopped) and ``fork`` (a new workflow from a recorded prefix of another's history).

Both check the current code against the history they keep before writing anything (see
:mod:`.prefix`) and write in one atomic store operation per workflow (``StateStore.reopen``,
``StateStore.create_fork``), so a request refused, repeated or raced does one thing or none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wfcore._history import Entry, Kind, decode_outcome, encode_lifecycle, error_info
from wfcore._models import InvocationRef, Reopen, Snapshot, WorkflowRecord, WorkflowStatus
from wfcore.engine.forks import Forking
from wfcore.engine.prefix import check_prefix, operations, refused
from wfcore.errors import RepairError

__all__ = ["Repairing", "ResumePlan"]

# What a resume takes back to PENDING.
REOPENABLE = frozenset({WorkflowStatus.FAILED, WorkflowStatus.CANCELLED})


@dataclass(frozen=True, slots=True)
class ResumePlan:
    """The writes of a resume for one workflow, and the invocations to run after them."""

    workflow_id: str
    changes: tuple[Reopen, ...]
    refs: tuple[InvocationRef, ...]


class Repairing(Forking):
    """``resume`` of a failed or cancelled workflow; ``fork`` is in :mod:`.forks`."""

    def resume(self, workflow_id: str) -> WorkflowRecord:
        """Continue a FAILED or CANCELLED workflow from where it stopped, on the current code.

        Its recorded operations replay; what made it fail runs again: the child whose
        failure it raised (and failed or cancelled children started after that one), or the
        ``wf.deterministic`` step whose recorded exception ended it (that record becomes an
        ``operation_retracted`` event, so the step's position runs again). A cancellation
        recorded last is retracted the same way and the cancel flag is cleared. Failed
        children in child workflows are resumed too. Every reopened invocation gets a
        ``resumed`` event and is sent to run.

        Returns:
            The workflow as stored after the resume (PENDING).

        Raises:
            WorkflowNotFoundError: there is no such workflow.
            RepairError: the workflow is not FAILED or CANCELLED (completed, or still
                running: resumed already), or it changed while the resume was planned.
            NonDeterminismError: the current code no longer replays the kept history;
                nothing was written.
        """
        record = self.workflow(workflow_id)
        if record.status not in REOPENABLE:
            raise RepairError(
                f"workflow {workflow_id!r} is {record.status.value}: only a FAILED or CANCELLED "
                "workflow can be resumed"
                + (
                    "; fork it (handle.fork / wfcore fork) to run it again"
                    if record.status is WorkflowStatus.COMPLETED
                    else " (it is running, perhaps resumed already); cancel it first to stop it"
                )
            )
        plans = self._plan_resume(record)
        for plan in plans:  # the parent first: it forgets the outcomes its children bring anew
            stored = self.store.reopen(plan.workflow_id, plan.changes, statuses=REOPENABLE)
            if stored is None:
                if plan.workflow_id != workflow_id:
                    continue  # a child workflow resumed by someone else meanwhile: it runs
                raise RepairError(
                    f"workflow {workflow_id!r} changed while its resume was planned (resumed "
                    "by another caller?); look at its status and try again if it still failed"
                )
            for ref in plan.refs:
                self.dispatcher.enqueue(ref)
        return self.workflow(workflow_id)

    def _plan_resume(self, record: WorkflowRecord) -> list[ResumePlan]:
        """The resume of ``record`` and of the failed child workflows it waits for; checked
        against the current code, nothing written."""
        plans: list[ResumePlan] = []
        pending = [record]
        while pending:
            current = pending.pop(0)
            changes: list[Reopen] = []
            refs: list[InvocationRef] = []
            queue = [current.root_invocation_id]
            while queue:
                snap = self.store.load(current.workflow_id, queue.pop(0), claim=False)
                if snap is None:
                    continue
                change, children = self._plan_invocation(current, snap)
                changes.append(change)
                refs.append(snap.invocation.ref)
                for child_workflow, child_invocation in children:
                    if child_workflow == current.workflow_id:
                        queue.append(child_invocation)
                        continue
                    child = self.store.get_workflow(child_workflow)
                    if child is not None and child.status in REOPENABLE:
                        pending.append(child)
            plans.append(ResumePlan(current.workflow_id, tuple(changes), tuple(refs)))
        return plans

    def _plan_invocation(
        self, workflow: WorkflowRecord, snap: Snapshot
    ) -> tuple[Reopen, list[tuple[str, str]]]:
        """How one finished invocation is reopened, and the (workflow, invocation) of each
        child of it that runs again."""
        inv = snap.invocation
        where = f"invocation {inv.invocation_id!r} of workflow {workflow.workflow_id!r}"
        positions, ops = operations(self.codec, snap, where)
        rewrite: dict[int, bytes] = {}
        if ops and (ops[-1].kind == Kind.CANCELLED or (_is_step(ops[-1]) and not ops[-1].ok)):
            rewrite[positions[-1]] = self._retracted(ops[-1], inv.attempts)
        forget: list[int] = []
        children: list[tuple[str, str]] = []
        if ops:
            entries = [rewrite.get(i, data) for i, data in enumerate(snap.entries)]
            kept = Snapshot(
                workflow.model_copy(update={"cancel_requested": False}),
                inv,
                entries,
                snap.outcomes,
            )
            check = check_prefix(self._tasks, self.codec, self.store, kept, self.resolve_task)
            if check.divergence is not None:
                raise refused("resume", workflow.workflow_id, check.divergence)
            cause = _seq_of_child(ops, check.failed_child)
            if cause is not None:
                for op in ops[cause:]:
                    outcome = snap.outcomes.get(op.seq)
                    if op.kind != Kind.START_TASK or outcome is None:
                        continue
                    status = decode_outcome(self.codec, outcome, where).status
                    if status in REOPENABLE:
                        forget.append(op.seq)
                        children.append((op.value[1], op.value[0]))
                self._retract_deliveries(ops, cause, positions, forget, inv.attempts, rewrite)
        event = encode_lifecycle(self.codec, "resumed", {"status": inv.status.value}, inv.attempts)
        return Reopen(inv.invocation_id, len(snap.entries), rewrite, [event], forget), children

    def _retract_deliveries(
        self,
        ops: Sequence[Entry],
        cause: int,
        positions: Sequence[int],
        forget: Sequence[int],
        execution: int,
        rewrite: dict[int, bytes],
    ) -> None:
        """An async body was delivered a forgotten outcome at an idle point (a ``resumed``
        entry): that point and every operation after it are taken back, so the resumed run
        waits there for the child that runs again (children it had started after that point
        keep their ids and outcomes, being started at the same positions again)."""
        gone = set(forget)
        for op in ops[cause:]:
            if op.kind == Kind.RESUMED and not gone.isdisjoint(op.value):
                for later in ops[op.seq :]:
                    rewrite.setdefault(positions[later.seq], self._retracted(later, execution))
                return

    def _retracted(self, entry: Entry, execution: int) -> bytes:
        """The event that replaces a recorded failure or cancellation a resume takes back."""
        detail: dict[str, object] = {"seq": entry.seq, "operation": entry.describe()}
        if not entry.ok:
            type_name, message, _ = error_info(entry.value)
            detail["error"] = f"{type_name}: {message}"
        return encode_lifecycle(self.codec, "operation_retracted", detail, execution)


def _is_step(entry: Entry) -> bool:
    return entry.kind == Kind.DETERMINISTIC


def _seq_of_child(ops: Sequence[Entry], invocation_id: str | None) -> int | None:
    if invocation_id is None:
        return None
    for op in ops:
        if op.kind == Kind.START_TASK and op.value[0] == invocation_id:
            return op.seq
    return None
