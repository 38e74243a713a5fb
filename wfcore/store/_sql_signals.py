"""``SQLSignals``: the SQL stores' signals and workflow data reads (SQLite and PostgreSQL
alike): sending a signal, taking a buffered one (or registering a wait) inside a commit, and
reading data."""

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
from wfcore.store._sql_dialect import FINISHED, KEY, Dialect

__all__ = ["SQLSignals", "take"]

_NAME = "workflow_id = ? AND name = ?"


class SQLSignals:
    """The signal and data-read part of the SQL stores (``SQLiteStore``, ``PostgresStore``)."""

    # Provided by the store.
    _dialect: Dialect
    _transaction: Callable[..., AbstractContextManager[Any]]
    _read: Callable[[str, Sequence[Any]], list[Any]]
    _record: Callable[[Any, str, ParentOutcome, bytes], OutcomeResult]

    def read_data(self, workflow_id: str, key: str) -> bytes | None:
        """One workflow data value, or None when the key was never set."""
        sql = "SELECT value FROM data WHERE workflow_id = ? AND key = ?"
        rows = self._read(self._dialect.q(sql), (workflow_id, key))
        return rows[0][0] if rows else None

    def list_data(self, workflow_id: str) -> dict[str, bytes]:
        """Every workflow data value by key."""
        sql = "SELECT key, value FROM data WHERE workflow_id = ? ORDER BY key"
        return dict(self._read(self._dialect.q(sql), (workflow_id,)))

    def send_signal(
        self, workflow_id: str, name: str, payload: bytes, *, signal_id: str | None = None
    ) -> SignalResult:
        """Refuse, deliver to the oldest live wait, or buffer a signal, in one transaction."""
        d = self._dialect
        with self._transaction() as cur:
            row = cur.execute(
                d.q(f"SELECT status FROM workflows WHERE workflow_id = ?{d.lock}"), (workflow_id,)
            ).fetchone()
            if row is None:
                return SignalResult(status=None, accepted=False)
            status = WorkflowStatus(row[0])
            if signal_id is not None:
                known = cur.execute(
                    d.q("SELECT 1 FROM signal_ids WHERE workflow_id = ? AND signal_id = ?"),
                    (workflow_id, signal_id),
                ).fetchone()
                if known is not None:
                    return SignalResult(status=status, accepted=False, duplicate=True)
            if status.finished:
                return SignalResult(status=status, accepted=False)
            if signal_id is not None:
                cur.execute(
                    d.q("INSERT INTO signal_ids (workflow_id, signal_id) VALUES (?, ?)"),
                    (workflow_id, signal_id),
                )
            while True:
                waiter = cur.execute(
                    d.q(
                        f"SELECT {d.order}, invocation_id, seq FROM signal_waiters WHERE {_NAME}"
                        f" ORDER BY {d.order} LIMIT 1"
                    ),
                    (workflow_id, name),
                ).fetchone()
                if waiter is None:
                    break
                position, invocation_id, seq = waiter
                cur.execute(d.q(f"DELETE FROM signal_waiters WHERE {d.order} = ?"), (position,))
                inv = cur.execute(
                    d.q(f"SELECT status, task_name FROM invocations WHERE {KEY}"),
                    (workflow_id, invocation_id),
                ).fetchone()
                if inv is None or inv[0] in FINISHED:
                    continue
                told = self._record(cur, workflow_id, ParentOutcome(invocation_id, seq), payload)
                if not told.recorded:
                    continue  # its timeout won: the wait is over
                ref = InvocationRef(workflow_id, invocation_id, inv[1])
                return SignalResult(status, True, wake=told.wake, waiter=ref)
            cur.execute(
                d.q("INSERT INTO signals (workflow_id, name, payload) VALUES (?, ?, ?)"),
                (workflow_id, name, payload),
            )
        return SignalResult(status=status, accepted=True)


def take(cur: Any, d: Dialect, key: tuple[str, str], signal: SignalTake) -> bytes | None:
    """``Batch.signal`` inside a commit of invocation ``key``: the first buffered signal
    moved into its outcome at ``signal.seq``, or (``wait``) a wait registered."""
    workflow_id, invocation_id = key
    row = cur.execute(
        d.q(f"SELECT {d.order}, payload FROM signals WHERE {_NAME} ORDER BY {d.order} LIMIT 1"),
        (workflow_id, signal.name),
    ).fetchone()
    if row is not None:
        cur.execute(d.q(f"DELETE FROM signals WHERE {d.order} = ?"), (row[0],))
        cur.execute(
            d.q("INSERT INTO outcomes (workflow_id, invocation_id, seq, data) VALUES (?, ?, ?, ?)"),
            (*key, signal.seq, row[1]),
        )
        payload: bytes = row[1]
        return payload
    if signal.wait:
        cur.execute(
            d.q(
                "INSERT INTO signal_waiters (workflow_id, name, invocation_id, seq)"
                " VALUES (?, ?, ?, ?)"
            ),
            (workflow_id, signal.name, invocation_id, signal.seq),
        )
    return None
