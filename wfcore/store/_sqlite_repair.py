"""``SQLiteRepair``: the SQLite store's side of repairs: reopening finished invocations (a
resume) and creating a workflow with a recorded history (a fork)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from wfcore._models import InvocationRecord, Reopen, WorkflowRecord, WorkflowStatus
from wfcore.store import _sqlite_layout as layout

__all__ = ["SQLiteRepair"]

_INSERT_ENTRY = "INSERT INTO entries (workflow_id, invocation_id, seq, data) VALUES (?, ?, ?, ?)"


class SQLiteRepair:
    """``reopen`` and ``create_fork`` of :class:`~wfcore.store.sqlite.SQLiteStore`."""

    if TYPE_CHECKING:  # provided by SQLiteStore

        def _transaction(
            self, begin: str = layout.WRITE
        ) -> AbstractContextManager[sqlite3.Connection]: ...

    def reopen(
        self,
        workflow_id: str,
        changes: Sequence[Reopen],
        *,
        statuses: Collection[WorkflowStatus],
    ) -> WorkflowRecord | None:
        """Take finished invocations back to PENDING in one transaction (see ``StateStore``)."""
        allowed = {status.value for status in statuses}
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT status FROM workflows WHERE workflow_id = ?", (workflow_id,)
            ).fetchone()
            if row is None or row[0] not in allowed:
                return None
            for change in changes:
                key = (workflow_id, change.invocation_id)
                exists = conn.execute(f"SELECT 1 FROM invocations WHERE {layout.KEY}", key)
                count = conn.execute(f"SELECT count(*) FROM entries WHERE {layout.KEY}", key)
                if exists.fetchone() is None or count.fetchone()[0] != change.length:
                    return None
            now = time.time()
            for change in changes:
                key = (workflow_id, change.invocation_id)
                conn.executemany(
                    f"UPDATE entries SET data = ? WHERE {layout.KEY} AND seq = ?",
                    [(data, *key, position) for position, data in change.rewrite.items()],
                )
                conn.executemany(
                    _INSERT_ENTRY,
                    [(*key, change.length + i, data) for i, data in enumerate(change.append)],
                )
                conn.executemany(
                    f"DELETE FROM outcomes WHERE {layout.KEY} AND seq = ?",
                    [(*key, seq) for seq in change.forget],
                )
                conn.execute(
                    "UPDATE invocations SET status = 'PENDING', outcome = NULL, waiting = ?,"
                    " missing = NULL, updated_at = ?, history_epoch = history_epoch + 1"
                    f" WHERE {layout.KEY}",
                    (layout.NO_WAIT, now, *key),
                )
            conn.execute(
                "UPDATE workflows SET status = 'PENDING', cancel_requested = 0, updated_at = ?,"
                " expires_at = NULL WHERE workflow_id = ?",
                (now, workflow_id),
            )
            row = conn.execute(
                f"{layout.SELECT_WF} WHERE workflow_id = ?", (workflow_id,)
            ).fetchone()
        return layout.workflow_from_row(row)

    def create_fork(
        self,
        workflow: WorkflowRecord,
        root: InvocationRecord,
        entries: Sequence[bytes],
        outcomes: Mapping[int, bytes],
        data: Mapping[str, bytes],
    ) -> tuple[WorkflowRecord, bool]:
        """Create a workflow with a recorded root history in one transaction."""
        wid = workflow.workflow_id
        key = (wid, root.invocation_id)
        with self._transaction() as conn:
            if not conn.execute(layout.INSERT_WF, layout.wf_values(workflow)).rowcount:
                sql = f"{layout.SELECT_WF} WHERE workflow_id = ?"
                return layout.workflow_from_row(conn.execute(sql, (wid,)).fetchone()), False
            conn.execute(layout.INSERT_INV, layout.invocation_to_row(wid, root))
            conn.executemany(_INSERT_ENTRY, [(*key, i, e) for i, e in enumerate(entries)])
            conn.executemany(
                "INSERT INTO outcomes (workflow_id, invocation_id, seq, data) VALUES (?,?,?,?)",
                [(*key, seq, outcome) for seq, outcome in outcomes.items()],
            )
            conn.executemany(
                "INSERT INTO data (workflow_id, key, value) VALUES (?, ?, ?)",
                [(wid, name, value) for name, value in data.items()],
            )
        return workflow, True
