"""Loads of :class:`~wfcore.store.sqlite.SQLiteStore`: ``load`` and ``load_since``."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

from wfcore._models import Snapshot
from wfcore.store import _sqlite_layout as layout
from wfcore.store._sql_marks import SET_WF
from wfcore.store.incremental import HistoryDelta, HistoryMark, tail_start

__all__ = ["SQLiteLoads"]

_OUTCOMES = f"SELECT seq, data FROM outcomes WHERE {layout.KEY}"
_OPEN_OUTCOMES = _OUTCOMES + " AND seq IN (SELECT value FROM json_each(?))"
_COUNT_OUTCOMES = f"SELECT count(*) FROM outcomes WHERE {layout.KEY}"

T = TypeVar("T")


class SQLiteLoads:
    """Reads of an invocation for a run, in one transaction each."""

    if TYPE_CHECKING:  # provided by SQLiteStore

        def _transaction(
            self, begin: str = layout.WRITE
        ) -> AbstractContextManager[sqlite3.Connection]: ...
        def _written(self, fn: Callable[[sqlite3.Connection], T]) -> T: ...

    def _run(self, read: Callable[[sqlite3.Connection], T], claim: bool) -> T:
        """``read`` in a write transaction shared with other writers if it claims, else in
        a read transaction of its own."""
        if claim:
            return self._written(read)
        with self._transaction("BEGIN") as conn:
            return read(conn)

    def load(self, workflow_id: str, invocation_id: str, *, claim: bool = True) -> Snapshot | None:
        """Workflow, invocation, history and child outcomes in one transaction.

        With ``claim`` a non-finished invocation becomes RUNNING and its attempt count grows.
        """
        key = (workflow_id, invocation_id)

        def read(conn: sqlite3.Connection) -> Any:
            row = _claimed(conn, key, claim)
            if row is None:
                return None
            entries = conn.execute(layout.ENTRIES, (*key, 0)).fetchall()
            return row, entries, dict(conn.execute(_OUTCOMES, key).fetchall())

        got = self._run(read, claim)
        if got is None:
            return None
        row, entries, outcome_map = got
        return Snapshot(
            layout.workflow_from_row(row[layout.N_INV : layout.N_LOAD]),
            layout.invocation_from_row(row),
            [e for (e,) in entries],
            outcome_map,
        )

    def load_since(
        self, workflow_id: str, invocation_id: str, mark: HistoryMark, *, claim: bool = True
    ) -> HistoryDelta | None:
        """``load``, reading only past ``mark`` (see :mod:`wfcore.store.incremental`)."""
        key = (workflow_id, invocation_id)

        def read(conn: sqlite3.Connection) -> Any:
            row = _claimed(conn, key, claim)
            if row is None:
                return None
            entries = conn.execute(layout.ENTRIES, (*key, tail_start(mark))).fetchall()
            if not mark.length:
                outcomes = dict(conn.execute(_OUTCOMES, key).fetchall())
                return row, entries, outcomes, len(outcomes)
            outcomes = {}
            if mark.open:
                opened = "[" + ",".join(map(str, mark.open)) + "]"
                outcomes = dict(conn.execute(_OPEN_OUTCOMES, (*key, opened)).fetchall())
            return row, entries, outcomes, conn.execute(_COUNT_OUTCOMES, key).fetchone()[0]

        got = self._run(read, claim)
        if got is None:
            return None
        row, entries, outcomes, count = got
        return HistoryDelta(
            layout.workflow_from_row(row[layout.N_INV : layout.N_LOAD]),
            layout.invocation_from_row(row),
            row[layout.N_LOAD] or 0,  # NULL: a read-only file of an older version
            [e for (e,) in entries],
            outcomes,
            count,
        )


def _claimed(
    conn: sqlite3.Connection, key: tuple[str, str], claim: bool
) -> list[Any] | tuple[Any, ...] | None:
    """The invocation's row joined with its workflow's (then its history epoch), claimed
    (RUNNING, one more attempt) if ``claim`` and not finished."""
    row = conn.execute(layout.LOAD, key).fetchone()
    if row is None or not claim or row[layout.I_STATUS] in layout.FINISHED:
        return row  # type: ignore[no-any-return]
    # Patch the row rather than model_copy() the records: load is the hot path.
    now = time.time()
    row = list(row)
    row[layout.I_ATTEMPTS] += 1
    row[layout.I_STATUS], row[layout.I_UPDATED] = "RUNNING", now
    conn.execute(
        "UPDATE invocations SET status = 'RUNNING', attempts = attempts + 1,"
        f" updated_at = ? WHERE {layout.KEY}",
        (now, *key),
    )
    if key[1] == row[layout.W_ROOT]:
        # Leaving an unchanged status alone spares the status index a rewrite.
        if row[layout.W_STATUS] == "RUNNING":
            sql = "UPDATE workflows SET updated_at = ? WHERE workflow_id = ?"
            conn.execute(sql, (now, key[0]))
        else:
            conn.execute(SET_WF, ("RUNNING", now, None, key[0]))
        row[layout.W_STATUS], row[layout.W_UPDATED] = "RUNNING", now
    return row
