"""In-process ``MemoryStore``: the reference semantics of the store contract, for tests."""

from __future__ import annotations

import heapq
import math
import threading
import time
from collections import deque
from collections.abc import Collection, Mapping, Sequence

from wfcore._models import (
    Batch,
    CommitResult,
    InvocationRecord,
    OutcomeResult,
    QueuePush,
    Reopen,
    SignalResult,
    SignalTake,
    Snapshot,
    WorkflowRecord,
    WorkflowStatus,
)
from wfcore.errors import StoreUnavailableError, WorkflowNotFoundError
from wfcore.store import MARK_EVERY, listing, refuse_batch_pushes, refuse_pushes, suspend_slack
from wfcore.store._memory_entry import WorkflowEntry
from wfcore.store._memory_sweeps import MemorySweeps
from wfcore.store.incremental import HistoryDelta, HistoryMark, pick_outcomes, tail_start

__all__ = ["MemoryStore"]


class MemoryStore(MemorySweeps):
    """A thread-safe store in a dict. Lost when the process ends."""

    def __init__(self, *, retention: float | None = None) -> None:
        self._lock = threading.Lock()
        self._workflows: dict[str, WorkflowEntry] = {}
        self._retention = retention
        self._closed = False

    # -- workflows -----------------------------------------------------------------------

    def create_workflow(
        self, workflow: WorkflowRecord, root: InvocationRecord, *, push: QueuePush | None = None
    ) -> tuple[WorkflowRecord, bool]:
        refuse_pushes(self, push)
        with self._lock:
            self._check_open()
            existing = self._workflows.get(workflow.workflow_id)
            if existing is not None:
                return existing.record, False
            if self._inherits_cancel(workflow, root):
                workflow = workflow.model_copy(update={"cancel_requested": True})
            entry = WorkflowEntry(workflow)
            entry.invocations[root.invocation_id] = root
            entry.histories[root.invocation_id] = []
            entry.outcomes[root.invocation_id] = {}
            self._workflows[workflow.workflow_id] = entry
            return workflow, True

    def _inherits_cancel(self, workflow: WorkflowRecord, root: InvocationRecord) -> bool:
        """A child workflow created while its parent's cancel flag is set is born cancelled
        (unless cleanup code started it): the cancel's walk may have passed already."""
        if workflow.parent_workflow_id is None or root.cancel_shielded:
            return False
        parent = self._workflows.get(workflow.parent_workflow_id)
        return parent is not None and parent.record.cancel_requested

    def get_workflow(self, workflow_id: str) -> WorkflowRecord | None:
        with self._lock:
            self._check_open()
            entry = self._workflows.get(workflow_id)
            return None if entry is None else entry.record

    def list_workflows(
        self,
        *,
        status: WorkflowStatus | None = None,
        workflow_type: str | None = None,
        limit: int = 100,
        created_after: float | None = None,
        created_before: float | None = None,
        cursor: str | None = None,
    ) -> list[WorkflowRecord]:
        after = listing.position(
            cursor,
            status=status,
            workflow_type=workflow_type,
            created_after=created_after,
            created_before=created_before,
        )
        low = -math.inf if created_after is None else created_after
        high = math.inf if created_before is None else created_before
        with self._lock:
            self._check_open()
            records = [
                w.record
                for w in self._workflows.values()
                if (status is None or w.record.status == status)
                and (workflow_type is None or w.record.workflow_type == workflow_type)
                and low <= w.record.created_at < high
                and (after is None or after.before(w.record))
            ]
        if limit < 0:
            return sorted(records, key=listing.sort_key, reverse=True)[:limit]
        return heapq.nlargest(limit, records, key=listing.sort_key)

    def count_workflows(self, status: WorkflowStatus) -> int:
        with self._lock:
            self._check_open()
            return sum(1 for w in self._workflows.values() if w.record.status == status)

    def child_workflows(self, workflow_id: str) -> list[WorkflowRecord]:
        with self._lock:
            self._check_open()
            records = [
                w.record
                for w in self._workflows.values()
                if w.record.parent_workflow_id == workflow_id
            ]
        records.sort(key=lambda r: r.created_at)
        return records

    def request_cancel(self, workflow_id: str) -> WorkflowRecord | None:
        with self._lock:
            self._check_open()
            entry = self._workflows.get(workflow_id)
            if entry is None:
                return None
            if not entry.record.cancel_requested:
                entry.record = entry.record.model_copy(
                    update={"cancel_requested": True, "updated_at": time.time()}
                )
            return entry.record

    # -- invocations ---------------------------------------------------------------------

    def get_invocation(self, workflow_id: str, invocation_id: str) -> InvocationRecord | None:
        with self._lock:
            self._check_open()
            entry = self._workflows.get(workflow_id)
            return None if entry is None else entry.invocations.get(invocation_id)

    def list_invocations(self, workflow_id: str) -> list[InvocationRecord]:
        with self._lock:
            self._check_open()
            entry = self._workflows.get(workflow_id)
            if entry is None:
                return []
            return sorted(entry.invocations.values(), key=lambda r: r.created_at)

    def load(self, workflow_id: str, invocation_id: str, *, claim: bool = True) -> Snapshot | None:
        with self._lock:
            found = self._loaded(workflow_id, invocation_id, claim)
            if found is None:
                return None
            entry, invocation = found
            return Snapshot(
                workflow=entry.record,
                invocation=invocation,
                entries=list(entry.histories[invocation_id]),
                outcomes=dict(entry.outcomes[invocation_id]),
            )

    def load_since(
        self, workflow_id: str, invocation_id: str, mark: HistoryMark, *, claim: bool = True
    ) -> HistoryDelta | None:
        """``load``, reading only past ``mark`` (see :mod:`wfcore.store.incremental`)."""
        with self._lock:
            found = self._loaded(workflow_id, invocation_id, claim)
            if found is None:
                return None
            entry, invocation = found
            outcomes = entry.outcomes[invocation_id]
            return HistoryDelta(
                entry.record,
                invocation,
                entry.epochs.get(invocation_id, 0),
                entry.histories[invocation_id][tail_start(mark) :],
                pick_outcomes(outcomes, mark),
                len(outcomes),
            )

    def _loaded(
        self, workflow_id: str, invocation_id: str, claim: bool
    ) -> tuple[WorkflowEntry, InvocationRecord] | None:
        """The workflow's entry and the invocation, claimed if ``claim`` (lock held)."""
        self._check_open()
        entry = self._workflows.get(workflow_id)
        if entry is None:
            return None
        invocation = entry.invocations.get(invocation_id)
        if invocation is None:
            return None
        if claim and not invocation.status.finished:
            invocation = self._set_invocation(
                entry,
                invocation,
                status=WorkflowStatus.RUNNING,
                attempts=invocation.attempts + 1,
            )
        return entry, invocation

    def read_data(self, workflow_id: str, key: str) -> bytes | None:
        with self._lock:
            self._check_open()
            entry = self._workflows.get(workflow_id)
            return None if entry is None else entry.data.get(key)

    def list_data(self, workflow_id: str) -> dict[str, bytes]:
        with self._lock:
            self._check_open()
            entry = self._workflows.get(workflow_id)
            return {} if entry is None else dict(entry.data)

    def send_signal(
        self, workflow_id: str, name: str, payload: bytes, *, signal_id: str | None = None
    ) -> SignalResult:
        with self._lock:
            self._check_open()
            entry = self._workflows.get(workflow_id)
            if entry is None:
                return SignalResult(status=None, accepted=False)
            status = entry.record.status
            if signal_id is not None and signal_id in entry.signal_ids:
                return SignalResult(status=status, accepted=False, duplicate=True)
            if status.finished:
                return SignalResult(status=status, accepted=False)
            if signal_id is not None:
                entry.signal_ids.add(signal_id)
            waiters = entry.waiters.get(name)
            while waiters:
                invocation_id, seq = waiters.popleft()
                invocation = entry.invocations.get(invocation_id)
                if invocation is None or invocation.status.finished:
                    continue
                if seq in entry.outcomes[invocation_id]:
                    continue  # its timeout won: the wait is over
                told = self._record(entry, invocation_id, seq, payload)
                return SignalResult(status, True, wake=told.wake, waiter=invocation.ref)
            entry.signals.setdefault(name, deque()).append(payload)
            return SignalResult(status=status, accepted=True)

    def _take(self, entry: WorkflowEntry, invocation_id: str, take: SignalTake) -> bytes | None:
        """``Batch.signal``: the first buffered signal into the outcome, or a wait."""
        buffered = entry.signals.get(take.name)
        if buffered:
            payload = buffered.popleft()
            entry.outcomes[invocation_id][take.seq] = payload
            return payload
        if take.wait:
            entry.waiters.setdefault(take.name, deque()).append((invocation_id, take.seq))
        return None

    def commit(self, workflow_id: str, invocation_id: str, batch: Batch) -> CommitResult:
        refuse_batch_pushes(self, batch)
        with self._lock:
            self._check_open()
            entry = self._entry_with(workflow_id, invocation_id)
            history = entry.histories[invocation_id]
            cancel = entry.record.cancel_requested
            if len(history) != batch.base_seq:
                return CommitResult(
                    ok=False, cancel_requested=cancel, winners=history[batch.base_seq :]
                )
            history.extend(batch.entries)
            entry.data.update(batch.data)
            for child in batch.children:
                if child.invocation_id not in entry.invocations:
                    entry.invocations[child.invocation_id] = child
                    entry.histories[child.invocation_id] = []
                    entry.outcomes[child.invocation_id] = {}
            invocation = entry.invocations[invocation_id]
            taken = None if batch.signal is None else self._take(entry, invocation_id, batch.signal)
            if batch.finish is not None:
                if batch.continue_with is not None:
                    entry.hand_over(batch.continue_with)  # then nothing mirrors the finish
                self._set_invocation(
                    entry,
                    invocation,
                    status=batch.finish.status,
                    outcome=batch.finish.outcome,
                    waiting=(),
                )
                if batch.continue_with is not None:
                    return CommitResult(ok=True, cancel_requested=cancel, signal=taken)
                if batch.parent is not None:
                    parent = self._record(
                        entry, batch.parent.invocation_id, batch.parent.seq, batch.finish.outcome
                    )
                    return CommitResult(
                        ok=True, cancel_requested=cancel, parent=parent, signal=taken
                    )
            elif batch.suspend is not None:
                outcomes = entry.outcomes[invocation_id]
                missing = {seq for seq in batch.suspend if seq not in outcomes}
                slack = suspend_slack(batch)
                if len(missing) <= slack:
                    self._touch(entry, invocation)
                    return CommitResult(ok=True, ready=True, cancel_requested=cancel, signal=taken)
                entry.missing[invocation_id] = missing
                entry.slack[invocation_id] = slack
                self._set_invocation(
                    entry,
                    invocation,
                    status=WorkflowStatus.SUSPENDED,
                    waiting=tuple(batch.suspend),
                )
            else:
                self._touch(entry, invocation)
            return CommitResult(ok=True, cancel_requested=cancel, signal=taken)

    def record_outcome(
        self, workflow_id: str, invocation_id: str, seq: int, outcome: bytes
    ) -> OutcomeResult:
        with self._lock:
            self._check_open()
            entry = self._workflows.get(workflow_id)
            if entry is None:
                return OutcomeResult(recorded=False, wake=False)
            return self._record(entry, invocation_id, seq, outcome)

    def _record(
        self, entry: WorkflowEntry, invocation_id: str, seq: int, outcome: bytes
    ) -> OutcomeResult:
        if invocation_id not in entry.invocations:
            return OutcomeResult(recorded=False, wake=False)
        outcomes = entry.outcomes[invocation_id]
        if seq in outcomes:
            return OutcomeResult(recorded=False, wake=False)
        outcomes[seq] = outcome
        invocation = entry.invocations[invocation_id]
        missing = entry.missing.get(invocation_id)
        if invocation.status is not WorkflowStatus.SUSPENDED or missing is None:
            return OutcomeResult(recorded=True, wake=False)
        if seq not in missing:
            return OutcomeResult(recorded=True, wake=False)
        missing.discard(seq)
        if len(missing) > entry.slack.get(invocation_id, 0):
            return OutcomeResult(recorded=True, wake=False)
        del entry.missing[invocation_id]
        entry.slack.pop(invocation_id, None)
        self._set_invocation(entry, invocation, status=WorkflowStatus.PENDING, waiting=())
        return OutcomeResult(recorded=True, wake=True)

    def _restore(
        self,
        workflow: WorkflowRecord,
        invocations: list[tuple[InvocationRecord, list[bytes], dict[int, bytes]]],
    ) -> None:
        """Put an exported workflow back as it was (replay from files)."""
        with self._lock:
            entry = WorkflowEntry(workflow)
            for invocation, history, outcomes in invocations:
                entry.invocations[invocation.invocation_id] = invocation
                entry.histories[invocation.invocation_id] = list(history)
                entry.outcomes[invocation.invocation_id] = dict(outcomes)
            self._workflows[workflow.workflow_id] = entry

    def ping(self) -> None:
        with self._lock:
            self._check_open()

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def reopen(
        self,
        workflow_id: str,
        changes: Sequence[Reopen],
        *,
        statuses: Collection[WorkflowStatus],
    ) -> WorkflowRecord | None:
        with self._lock:
            self._check_open()
            entry = self._workflows.get(workflow_id)
            if entry is None or entry.record.status not in statuses:
                return None
            for change in changes:
                history = entry.histories.get(change.invocation_id)
                if history is None or len(history) != change.length:
                    return None
            entry.reopen(changes, time.time())
            return entry.record

    def create_fork(
        self,
        workflow: WorkflowRecord,
        root: InvocationRecord,
        entries: Sequence[bytes],
        outcomes: Mapping[int, bytes],
        data: Mapping[str, bytes],
    ) -> tuple[WorkflowRecord, bool]:
        with self._lock:
            self._check_open()
            existing = self._workflows.get(workflow.workflow_id)
            if existing is not None:
                return existing.record, False
            entry = WorkflowEntry(workflow, data=dict(data))
            entry.invocations[root.invocation_id] = root
            entry.histories[root.invocation_id] = list(entries)
            entry.outcomes[root.invocation_id] = dict(outcomes)
            self._workflows[workflow.workflow_id] = entry
            return workflow, True

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailableError("this MemoryStore was closed; create a new one")

    def _entry_with(self, workflow_id: str, invocation_id: str) -> WorkflowEntry:
        entry = self._workflows.get(workflow_id)
        if entry is None or invocation_id not in entry.invocations:
            raise WorkflowNotFoundError(
                f"invocation {invocation_id!r} of workflow {workflow_id!r} is not in the store; "
                "it was never created or its retention has passed"
            )
        return entry

    def _touch(self, entry: WorkflowEntry, invocation: InvocationRecord) -> None:
        """Progress marks an invocation alive (never moving ``updated_at`` back: a hold)."""
        now = time.time()
        if invocation.updated_at >= now - MARK_EVERY:
            return  # marked alive a moment ago (or held until later)
        entry.invocations[invocation.invocation_id] = invocation.model_copy(
            update={"updated_at": now}
        )
        if invocation.invocation_id == entry.record.root_invocation_id:
            entry.record = entry.record.model_copy(update={"updated_at": now})

    def _set_invocation(
        self,
        entry: WorkflowEntry,
        invocation: InvocationRecord,
        **changes: object,
    ) -> InvocationRecord:
        now = time.time()
        updated = invocation.model_copy(update={**changes, "updated_at": now})
        entry.invocations[invocation.invocation_id] = updated
        if invocation.invocation_id == entry.record.root_invocation_id:
            status = updated.status
            entry.record = entry.record.model_copy(update={"status": status, "updated_at": now})
            if status.finished and self._retention is not None:
                entry.expires_at = now + self._retention
        return updated
