"""``SQLRepair``: the SQL stores' side of repairs (SQLite and PostgreSQL alike): reopening
finished invocations (a resume) and creating a workflow with a recorded history (a fork)."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from wfcore._models import InvocationRecord, Reopen, WorkflowRecord, WorkflowStatus
from wfcore.store._sql_dialect import KEY, Dialect
from wfcore.store._sql_rows import wf_values

__all__ = ["SQLRepair"]

_INSERT_ENTRY = "INSERT INTO entries (workflow_id, invocation_id, seq, data) VALUES (?, ?, ?, ?)"


class SQLRepair:
    """``reopen`` and ``create_fork`` of the SQL stores (``SQLiteStore``, ``PostgresStore``)."""

    if TYPE_CHECKING:  # provided by the store
        _dialect: Dialect

        def _transaction(self) -> AbstractContextManager[Any]: ...

    def reopen(
        self,
        workflow_id: str,
        changes: Sequence[Reopen],
        *,
        statuses: Collection[WorkflowStatus],
    ) -> WorkflowRecord | None:
        """Take finished invocations back to PENDING in one transaction (see ``StateStore``)."""
        allowed = {status.value for status in statuses}
        d = self._dialect
        with self._transaction() as cur:
            row = cur.execute(
                d.q(f"SELECT status FROM workflows WHERE workflow_id = ?{d.lock}"), (workflow_id,)
            ).fetchone()
            if row is None or row[0] not in allowed:
                return None
            for change in changes:
                found = cur.execute(
                    d.q(
                        "SELECT (SELECT count(*) FROM entries e WHERE e.workflow_id ="
                        " i.workflow_id AND e.invocation_id = i.invocation_id)"
                        f" FROM invocations i WHERE {KEY}"
                    ),
                    (workflow_id, change.invocation_id),
                ).fetchone()
                if found is None or found[0] != change.length:
                    return None
            now = time.time()
            for change in changes:
                key = (workflow_id, change.invocation_id)
                cur.executemany(
                    d.q(f"UPDATE entries SET data = ? WHERE {KEY} AND seq = ?"),
                    [(data, *key, position) for position, data in change.rewrite.items()],
                )
                cur.executemany(
                    d.q(_INSERT_ENTRY),
                    [(*key, change.length + i, data) for i, data in enumerate(change.append)],
                )
                cur.executemany(
                    d.q(f"DELETE FROM outcomes WHERE {KEY} AND seq = ?"),
                    [(*key, seq) for seq in change.forget],
                )
                cur.execute(
                    d.q(
                        "UPDATE invocations SET status = 'PENDING', outcome = NULL, waiting = ?,"
                        " missing = NULL, updated_at = ?, history_epoch = history_epoch + 1"
                        f" WHERE {KEY}"
                    ),
                    (d.no_wait, now, *key),
                )
            cur.execute(
                d.q(
                    "UPDATE workflows SET status = 'PENDING', cancel_requested = ?,"
                    " updated_at = ?, expires_at = NULL WHERE workflow_id = ?"
                ),
                (False, now, workflow_id),
            )
            row = cur.execute(d.q(f"{d.select_wf} WHERE workflow_id = ?"), (workflow_id,))
            updated = row.fetchone()
        return d.workflow_from_row(updated)

    def create_fork(
        self,
        workflow: WorkflowRecord,
        root: InvocationRecord,
        entries: Sequence[bytes],
        outcomes: Mapping[int, bytes],
        data: Mapping[str, bytes],
    ) -> tuple[WorkflowRecord, bool]:
        """Create a workflow with a recorded root history in one transaction."""
        d = self._dialect
        wid = workflow.workflow_id
        key = (wid, root.invocation_id)
        with self._transaction() as cur:
            if not cur.execute(d.insert_wf, wf_values(workflow)).rowcount:
                row = cur.execute(d.q(f"{d.select_wf} WHERE workflow_id = ?"), (wid,))
                return d.workflow_from_row(row.fetchone()), False
            cur.execute(d.insert_inv, d.invocation_to_row(wid, root))
            cur.executemany(d.q(_INSERT_ENTRY), [(*key, i, e) for i, e in enumerate(entries)])
            cur.executemany(
                d.q(
                    "INSERT INTO outcomes (workflow_id, invocation_id, seq, data) VALUES (?,?,?,?)"
                ),
                [(*key, seq, outcome) for seq, outcome in outcomes.items()],
            )
            cur.executemany(
                d.q("INSERT INTO data (workflow_id, key, value) VALUES (?, ?, ?)"),
                [(wid, name, value) for name, value in data.items()],
            )
        return workflow, True
