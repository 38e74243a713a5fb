"""``PostgresStore``'s signals and workflow data reads: sending a signal, taking a buffered
one (or registering a wait) inside a commit, and reading data."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from wfcore._models import (
    InvocationRef,
    OutcomeResult,
    ParentOutcome,
    SignalResult,
    SignalTake,
    WorkflowStatus,
)
from wfcore.store import _postgres_layout as layout
from wfcore.store._postgres_driver import psycopg

__all__ = ["PostgresSignals", "take"]

Cursor = psycopg.Cursor[Any]
_NAME = "workflow_id = %s AND name = %s"


class PostgresSignals:
    """The signal and data-read part of :class:`~wfcore.store.postgres.PostgresStore`."""

    # Provided by PostgresStore.
    _transaction: Callable[..., AbstractContextManager[Cursor]]
    _read: Callable[[str, Sequence[Any]], list[Any]]
    _record: Callable[[Cursor, str, ParentOutcome, bytes], OutcomeResult]

    def read_data(self, workflow_id: str, key: str) -> bytes | None:
        """One workflow data value, or None when the key was never set."""
        sql = "SELECT value FROM data WHERE workflow_id = %s AND key = %s"
        rows = self._read(sql, (workflow_id, key))
        return rows[0][0] if rows else None

    def list_data(self, workflow_id: str) -> dict[str, bytes]:
        """Every workflow data value by key."""
        sql = "SELECT key, value FROM data WHERE workflow_id = %s ORDER BY key"
        return dict(self._read(sql, (workflow_id,)))

    def send_signal(
        self, workflow_id: str, name: str, payload: bytes, *, signal_id: str | None = None
    ) -> SignalResult:
        """Refuse, deliver to the oldest live wait, or buffer a signal, in one transaction."""
        with self._transaction() as cur:
            row = cur.execute(
                "SELECT status FROM workflows WHERE workflow_id = %s FOR NO KEY UPDATE",
                (workflow_id,),
            ).fetchone()
            if row is None:
                return SignalResult(status=None, accepted=False)
            status = WorkflowStatus(row[0])
            if signal_id is not None:
                known = cur.execute(
                    "SELECT 1 FROM signal_ids WHERE workflow_id = %s AND signal_id = %s",
                    (workflow_id, signal_id),
                ).fetchone()
                if known is not None:
                    return SignalResult(status=status, accepted=False, duplicate=True)
            if status.finished:
                return SignalResult(status=status, accepted=False)
            if signal_id is not None:
                cur.execute(
                    "INSERT INTO signal_ids (workflow_id, signal_id) VALUES (%s, %s)",
                    (workflow_id, signal_id),
                )
            while True:
                waiter = cur.execute(
                    f"DELETE FROM signal_waiters WHERE ord = (SELECT ord FROM signal_waiters"
                    f" WHERE {_NAME} ORDER BY ord LIMIT 1) RETURNING invocation_id, seq",
                    (workflow_id, name),
                ).fetchone()
                if waiter is None:
                    break
                invocation_id, seq = waiter
                inv = cur.execute(
                    f"SELECT status, task_name FROM invocations WHERE {layout.KEY}",
                    (workflow_id, invocation_id),
                ).fetchone()
                if inv is None or inv[0] in layout.FINISHED:
                    continue
                told = self._record(cur, workflow_id, ParentOutcome(invocation_id, seq), payload)
                if not told.recorded:
                    continue  # its timeout won: the wait is over
                ref = InvocationRef(workflow_id, invocation_id, inv[1])
                return SignalResult(status, True, wake=told.wake, waiter=ref)
            cur.execute(
                "INSERT INTO signals (workflow_id, name, payload) VALUES (%s, %s, %s)",
                (workflow_id, name, payload),
            )
        return SignalResult(status=status, accepted=True)


def take(cur: Cursor, key: tuple[str, str], signal: SignalTake) -> bytes | None:
    """``Batch.signal`` inside a commit of invocation ``key`` (its workflow locked): the first
    buffered signal moved into its outcome at ``signal.seq``, or (``wait``) a wait registered."""
    workflow_id, invocation_id = key
    row = cur.execute(
        f"DELETE FROM signals WHERE ord = (SELECT ord FROM signals WHERE {_NAME}"
        " ORDER BY ord LIMIT 1) RETURNING payload",
        (workflow_id, signal.name),
    ).fetchone()
    if row is not None:
        cur.execute(
            "INSERT INTO outcomes (workflow_id, invocation_id, seq, data) VALUES (%s, %s, %s, %s)",
            (*key, signal.seq, row[0]),
        )
        payload: bytes = row[0]
        return payload
    if signal.wait:
        cur.execute(
            "INSERT INTO signal_waiters (workflow_id, name, invocation_id, seq)"
            " VALUES (%s, %s, %s, %s)",
            (workflow_id, signal.name, invocation_id, signal.seq),
        )
    return None
