"""Outcomes: a finished invocation's outcome delivered to its parent, failing an invocation
from outside its run, and reading a workflow's outcome."""

from __future__ import annotations

from typing import Any

from wfcore._history import (
    HistoryEvent,
    Outcome,
    decode_outcome,
    encode_lifecycle,
    encode_outcome,
    error_info,
    read_history,
)
from wfcore._models import (
    Batch,
    CommitResult,
    Finish,
    InvocationRecord,
    InvocationRef,
    ParentOutcome,
    QueuePush,
    WorkflowRecord,
    WorkflowStatus,
)
from wfcore.engine.base import EngineBase
from wfcore.errors import (
    EncodeError,
    WorkflowCancelledError,
    WorkflowFailedError,
    WorkflowNotFoundError,
)

__all__ = ["Outcomes", "error_text", "outcome_value"]


class Outcomes(EngineBase):
    """Finishing invocations from outside a run, telling parents, reading outcomes."""

    def fail(self, ref: InvocationRef, error: BaseException) -> bool:
        """Fail a not yet finished invocation for good from outside its run.

        For decisions taken after a run (a queue's retry policy gave up). True if this call
        finished it.
        """
        return self._finish_outside(ref, WorkflowStatus.FAILED, error)

    def complete(self, ref: InvocationRef, value: Any) -> bool:
        """Complete a not yet finished invocation with ``value`` from outside a run.

        For invocations the engine does not run itself (a queue's own job recorded as a
        child): the outcome is recorded and the parent told exactly as when a run completes;
        the first writer wins, so a duplicate delivery records nothing. A value the codec
        cannot encode fails the invocation with that ``EncodeError``. True if this call
        finished it.
        """
        return self._finish_outside(ref, WorkflowStatus.COMPLETED, value)

    def attach(self, ref: InvocationRef, key: str, value: bytes) -> bool:
        """Write ``value`` (encoded) under ``key`` in the workflow's data, and say whether
        ``ref`` was still unfinished when it was written.

        True: any finish of ``ref`` is written after it (whoever acts on that finish reads
        it). False: ``ref`` had finished first (the caller acts on that finish itself), or is
        gone (nothing written). Written either way, so a later finish of a resumed ``ref``
        finds it.
        """
        for _ in range(self._max_conflicts):
            snap = self.store.load(ref.workflow_id, ref.invocation_id, claim=False)
            if snap is None:
                return False
            # A finish appends to the history, so this commit (at this history length) lands
            # before any finish or not at all: the status read here is the one at the write.
            batch = Batch(len(snap.entries), data={key: value})
            if self.store.commit(ref.workflow_id, ref.invocation_id, batch).ok:
                return not snap.invocation.status.finished
        raise RuntimeError(
            f"could not write data {key!r} of workflow {ref.workflow_id!r}: invocation "
            f"{ref.invocation_id!r} kept moving ({self._max_conflicts} tries); retry later"
        )

    def _finish_outside(self, ref: InvocationRef, status: WorkflowStatus, value: Any) -> bool:
        for _ in range(self._max_conflicts):
            snap = self.store.load(ref.workflow_id, ref.invocation_id, claim=False)
            if snap is None or snap.invocation.status.finished:
                return False
            inv = snap.invocation
            finish, event = self._outside_outcome(inv, status, value)
            outcome = finish.outcome
            parent, push = self._parent_link(inv)
            batch = Batch(
                len(snap.entries), [event], finish=finish, parent=parent, parent_push=push
            )
            committed = self.store.commit(ref.workflow_id, ref.invocation_id, batch)
            if committed.ok:
                self._tell_parent(inv, outcome, committed, push)
                self._ended(snap.workflow, inv.invocation_id, finish.status)
                return True
        return False

    def _outside_outcome(
        self, inv: InvocationRecord, status: WorkflowStatus, value: Any
    ) -> tuple[Finish, bytes]:
        """The finish and lifecycle event of finishing ``inv`` with ``value`` (a value the
        codec refuses fails it with that ``EncodeError``)."""
        if status is WorkflowStatus.COMPLETED:
            try:
                outcome = encode_outcome(
                    self.codec, status, value, f"result of task {inv.task_name!r}"
                )
                event = encode_lifecycle(self.codec, "task_completed", None, inv.attempts)
                return Finish(status, outcome), event
            except EncodeError as exc:
                status, value = WorkflowStatus.FAILED, exc
        outcome = encode_outcome(self.codec, status, value, f"error of task {inv.task_name!r}")
        event = encode_lifecycle(self.codec, "task_failed", error_text(value), inv.attempts)
        return Finish(status, outcome), event

    def _parent_link(self, inv: InvocationRecord) -> tuple[ParentOutcome | None, QueuePush | None]:
        """What a finishing commit of ``inv`` tells a parent in its workflow: the outcome's
        place, and (with an outbox) the wake-up message the commit writes if it wakes it."""
        parent = _parent_outcome(inv)
        if parent is None or self._outbox is None or inv.parent_ref is None:
            return parent, None
        return parent, self._outbox.prepare(inv.parent_ref)

    def _tell_parent(
        self,
        inv: InvocationRecord,
        outcome: bytes,
        committed: CommitResult,
        push: QueuePush | None,
    ) -> None:
        """After a committed finish: wake the parent its commit told, or tell it now."""
        if committed.parent is None:
            self._notify_parent(inv, outcome)
        elif committed.parent.wake and inv.parent_ref is not None and not self._written(push):
            self.dispatcher.enqueue(inv.parent_ref)  # the commit did not write the wake-up

    def _notify_parent(self, inv: InvocationRecord, outcome: bytes) -> None:
        parent = inv.parent_ref
        if parent is None or inv.parent_seq is None:
            return
        result = self.store.record_outcome(
            parent.workflow_id, parent.invocation_id, inv.parent_seq, outcome
        )
        if result.wake:
            self.dispatcher.enqueue(parent)

    # -- reading outcomes ----------------------------------------------------------------

    def workflow(self, workflow_id: str) -> WorkflowRecord:
        """The stored workflow.

        Raises:
            WorkflowNotFoundError: there is no such workflow.
        """
        record = self.store.get_workflow(workflow_id)
        if record is None:
            raise WorkflowNotFoundError(
                f"no workflow {workflow_id!r} in the store; check the id (and the store URL), "
                "or it finished and its retention has passed"
            )
        return record

    def history(self, workflow_id: str) -> list[HistoryEvent]:
        """The workflow's lifecycle events and recorded operations, in time order."""
        self.workflow(workflow_id)
        return read_history(self.store, self.codec, workflow_id)

    def outcome(self, workflow_id: str) -> Outcome | None:
        """The decoded outcome of a finished workflow, or None while it runs."""
        record = self.workflow(workflow_id)
        if not record.status.finished:
            return None
        root = self.store.get_invocation(workflow_id, record.root_invocation_id)
        if root is None or root.outcome is None:
            return None
        return decode_outcome(self.codec, root.outcome, f"workflow {workflow_id!r}")

    def result(self, workflow_id: str) -> Any:
        """The return value of a finished workflow.

        Raises:
            WorkflowFailedError: it failed.
            WorkflowCancelledError: it was cancelled.
            WorkflowNotFoundError: there is no such workflow.
            LookupError: it has not finished yet.
        """
        outcome = self.outcome(workflow_id)
        if outcome is None:
            raise LookupError(f"workflow {workflow_id!r} has not finished")
        return outcome_value(workflow_id, outcome)


def outcome_value(workflow_id: str, outcome: Outcome) -> Any:
    """The value of a finished workflow's outcome, or the error it ended with."""
    if outcome.status is WorkflowStatus.COMPLETED:
        return outcome.value
    if outcome.status is WorkflowStatus.CANCELLED:
        raise WorkflowCancelledError(
            f"workflow {workflow_id!r} was cancelled", workflow_id=workflow_id
        )
    error_type, message, traceback = error_info(outcome.value)
    raise WorkflowFailedError(
        f"workflow {workflow_id!r} failed: {error_type}: {message}",
        workflow_id=workflow_id,
        error_type=error_type,
        error_message=message,
        traceback=traceback,
    )


def error_text(error: BaseException) -> str:
    type_name, message, _ = error_info(error)
    return f"{type_name}: {message}"


def _parent_outcome(inv: InvocationRecord) -> ParentOutcome | None:
    """The parent a finishing commit records the outcome in: one in the same workflow (the
    same store slot); a parent in another workflow is told by ``record_outcome`` after."""
    if inv.parent_seq is None or inv.parent_invocation_id is None:
        return None
    if inv.parent_workflow_id != inv.workflow_id:
        return None
    return ParentOutcome(inv.parent_invocation_id, inv.parent_seq)
