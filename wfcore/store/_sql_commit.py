"""``SQLCommit``: a batch's commit and an outcome's recording, written once for the SQL
stores (SQLite, PostgreSQL).

The store opens the transaction for a commit (and refuses queue pushes); ``_apply`` checks the
history's length, appends the entries, writes data, children, a taken signal, and then
finishes, suspends or marks the invocation alive, in that transaction. ``_record`` stores a
child's outcome and wakes the invocation when it was the last one it waited for."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from wfcore._models import Batch, CommitResult, OutcomeResult, ParentOutcome, WorkflowStatus
from wfcore.store import suspend_slack
from wfcore.store._sql_dialect import KEY, Dialect
from wfcore.store._sql_signals import take

__all__ = ["SQLCommit"]

_ENTRIES = f"SELECT data FROM entries WHERE {KEY} AND seq >= ? ORDER BY seq"
_INSERT_ENTRY = "INSERT INTO entries (workflow_id, invocation_id, seq, data) VALUES (?, ?, ?, ?)"
_UPSERT_DATA = (
    "INSERT INTO data (workflow_id, key, value) VALUES (?, ?, ?)"
    " ON CONFLICT (workflow_id, key) DO UPDATE SET value = excluded.value"
)
_FINISH_INV = (
    f"UPDATE invocations SET status = ?, outcome = ?, waiting = ?, updated_at = ? WHERE {KEY}"
)
_CONTINUE_WF = (
    "UPDATE workflows SET root_invocation_id = ?, status = 'PENDING', updated_at = ?"
    " WHERE workflow_id = ?"
)
_INSERT_OUTCOME = (
    "INSERT INTO outcomes (workflow_id, invocation_id, seq, data) VALUES (?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)
_SET_MISSING = f"UPDATE invocations SET missing = ? WHERE {KEY}"
_SET_INV = (
    f"UPDATE invocations SET status = ?, waiting = ?, missing = ?, updated_at = ? WHERE {KEY}"
)


class SQLCommit:
    """``_apply``, ``record_outcome`` and ``_record`` of the SQL stores (``SQLiteStore``,
    ``PostgresStore``)."""

    if TYPE_CHECKING:  # provided by the store
        _dialect: Dialect

        def _head(self, cur: Any, key: tuple[str, str]) -> Any: ...
        def _transaction(self) -> AbstractContextManager[Any]: ...
        def _touch(self, cur: Any, key: tuple[str, str], is_root: bool, marked: float) -> None: ...
        def _mirror(
            self, cur: Any, workflow_id: str, status: WorkflowStatus, now: float
        ) -> None: ...

    def _apply(
        self, cur: Any, workflow_id: str, invocation_id: str, batch: Batch
    ) -> CommitResult | None:
        """Apply ``batch`` in the open transaction ``cur`` if the history still holds
        ``batch.base_seq`` entries; None when there is no such invocation."""
        d = self._dialect
        key = (workflow_id, invocation_id)
        base = batch.base_seq
        # cancel flag, root invocation, status, waiting, missing, last seq, updated_at
        head = self._head(cur, key)
        if head is None:
            return None
        cancel = bool(head[0])
        if (0 if head[5] is None else head[5] + 1) != base:
            winners = [w for (w,) in cur.execute(d.q(_ENTRIES), (*key, base)).fetchall()]
            return CommitResult(ok=False, cancel_requested=cancel, winners=winners)
        if batch.entries:
            rows = [(*key, base + i, e) for i, e in enumerate(batch.entries)]
            cur.executemany(d.q(_INSERT_ENTRY), rows)
        if batch.data:
            values = [(workflow_id, k, v) for k, v in batch.data.items()]
            cur.executemany(d.q(_UPSERT_DATA), values)
        if batch.children:
            cur.executemany(
                d.insert_inv, [d.invocation_to_row(workflow_id, c) for c in batch.children]
            )
        is_root = head[1] == invocation_id
        taken = None if batch.signal is None else take(cur, d, key, batch.signal)
        if batch.finish is not None:
            status = WorkflowStatus(batch.finish.status)
            now = time.time()
            finished = (status.value, batch.finish.outcome, d.no_wait, now, *key)
            cur.execute(d.q(_FINISH_INV), finished)
            if batch.continue_with is not None:
                # Continued as new: the workflow runs on, rooted at the next run's root.
                cur.execute(d.q(_CONTINUE_WF), (batch.continue_with, now, workflow_id))
                return CommitResult(ok=True, cancel_requested=cancel, signal=taken)
            if is_root:
                self._mirror(cur, workflow_id, status, now)
            if batch.parent is not None:
                parent = self._record(cur, workflow_id, batch.parent, batch.finish.outcome)
                return CommitResult(ok=True, cancel_requested=cancel, parent=parent, signal=taken)
        elif batch.suspend is not None:
            waiting = d.waiting(batch.suspend)
            # Counted once here, so each outcome is O(1) (see _record).
            missing = self._count_missing(cur, key, waiting) - suspend_slack(batch)
            if missing > 0:
                now = time.time()
                cur.execute(d.q(_SET_INV), ("SUSPENDED", waiting, missing, now, *key))
                if is_root:
                    self._mirror(cur, workflow_id, WorkflowStatus.SUSPENDED, now)
                return CommitResult(ok=True, cancel_requested=cancel, signal=taken)
            self._touch(cur, key, is_root, head[6])
            return CommitResult(ok=True, ready=True, cancel_requested=cancel, signal=taken)
        else:
            self._touch(cur, key, is_root, head[6])
        return CommitResult(ok=True, cancel_requested=cancel, signal=taken)

    def record_outcome(
        self, workflow_id: str, invocation_id: str, seq: int, outcome: bytes
    ) -> OutcomeResult:
        """Record the outcome awaited at ``seq`` and decide, atomically, whether to wake."""
        with self._transaction() as cur:
            return self._record(cur, workflow_id, ParentOutcome(invocation_id, seq), outcome)

    def _record(
        self, cur: Any, workflow_id: str, to: ParentOutcome, outcome: bytes
    ) -> OutcomeResult:
        """Record the outcome awaited at ``to`` in the open transaction ``cur`` and decide
        whether it wakes the invocation (the last one it waits for)."""
        d = self._dialect
        key = (workflow_id, to.invocation_id)
        head = self._head(cur, key)
        if head is None:
            return OutcomeResult(recorded=False, wake=False)
        if not cur.execute(d.q(_INSERT_OUTCOME), (*key, to.seq, outcome)).rowcount:
            return OutcomeResult(recorded=False, wake=False)
        if head[2] != "SUSPENDED" or not d.awaits(head[3], to.seq):
            return OutcomeResult(recorded=True, wake=False)
        missing = head[4]
        if missing is None:  # suspended by a version that did not count: count them now
            missing = self._count_missing(cur, key, head[3]) + 1
        if missing > 1:  # seqs are distinct, so each awaited outcome counts once
            cur.execute(d.q(_SET_MISSING), (missing - 1, *key))
            return OutcomeResult(recorded=True, wake=False)
        now = time.time()
        cur.execute(d.q(_SET_INV), ("PENDING", d.no_wait, None, now, *key))
        if head[1] == to.invocation_id:
            self._mirror(cur, workflow_id, WorkflowStatus.PENDING, now)
        return OutcomeResult(recorded=True, wake=True)

    def _count_missing(self, cur: Any, key: tuple[str, str], waiting: Any) -> int:
        """How many of the seqs in ``waiting`` (the column's value) have no outcome yet."""
        return int(cur.execute(self._dialect.count_missing, (waiting, *key)).fetchone()[0])
