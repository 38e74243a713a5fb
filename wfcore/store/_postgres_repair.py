"""``PostgresRepair``: the PostgreSQL store's side of repairs: reopening finished invocations
(a resume) and creating a workflow with a recorded history (a fork)."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from wfcore._models import InvocationRecord, Reopen, WorkflowRecord, WorkflowStatus
from wfcore.store import _postgres_layout as layout
from wfcore.store._postgres_driver import psycopg

__all__ = ["PostgresRepair"]

Cursor = psycopg.Cursor[Any]


class PostgresRepair:
    """``reopen`` and ``create_fork`` of :class:`~wfcore.store.postgres.PostgresStore`."""

    if TYPE_CHECKING:  # provided by PostgresStore

        def _transaction(self) -> AbstractContextManager[Cursor]: ...

    def reopen(
        self,
        workflow_id: str,
        changes: Sequence[Reopen],
        *,
        statuses: Collection[WorkflowStatus],
    ) -> WorkflowRecord | None:
        """Take finished invocations back to PENDING in one transaction (see ``StateStore``)."""
        allowed = {status.value for status in statuses}
        with self._transaction() as cur:
            row = cur.execute(
                "SELECT status FROM workflows WHERE workflow_id = %s FOR NO KEY UPDATE",
                (workflow_id,),
            ).fetchone()
            if row is None or row[0] not in allowed:
                return None
            for change in changes:
                key = (workflow_id, change.invocation_id)
                found = cur.execute(
                    "SELECT (SELECT count(*) FROM entries e WHERE e.workflow_id = i.workflow_id"
                    " AND e.invocation_id = i.invocation_id) FROM invocations i"
                    f" WHERE {layout.KEY}",
                    key,
                ).fetchone()
                if found is None or found[0] != change.length:
                    return None
            now = time.time()
            for change in changes:
                key = (workflow_id, change.invocation_id)
                cur.executemany(
                    f"UPDATE entries SET data = %s WHERE {layout.KEY} AND seq = %s",
                    [(data, *key, position) for position, data in change.rewrite.items()],
                )
                cur.executemany(
                    layout.INSERT_ENTRY,
                    [(*key, change.length + i, data) for i, data in enumerate(change.append)],
                )
                cur.executemany(
                    f"DELETE FROM outcomes WHERE {layout.KEY} AND seq = %s",
                    [(*key, seq) for seq in change.forget],
                )
                cur.execute(
                    "UPDATE invocations SET status = 'PENDING', outcome = NULL, waiting = '{}',"
                    f" missing = NULL, updated_at = %s WHERE {layout.KEY}",
                    (now, *key),
                )
            cur.execute(
                "UPDATE workflows SET status = 'PENDING', cancel_requested = false,"
                " updated_at = %s, expires_at = NULL WHERE workflow_id = %s",
                (now, workflow_id),
            )
            found = cur.execute(f"{layout.SELECT_WF} WHERE workflow_id = %s", (workflow_id,))
            updated = found.fetchone()
        return layout.workflow_from_row(updated)  # type: ignore[arg-type]

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
        with self._transaction() as cur:
            if cur.execute(layout.INSERT_WF, layout.wf_values(workflow)).fetchone() is None:
                sql = f"{layout.SELECT_WF} WHERE workflow_id = %s"
                row = cur.execute(sql, (wid,)).fetchone()
                return layout.workflow_from_row(row), False  # type: ignore[arg-type]
            cur.execute(layout.INSERT_INV, layout.invocation_to_row(wid, root))
            cur.executemany(layout.INSERT_ENTRY, [(*key, i, e) for i, e in enumerate(entries)])
            cur.executemany(
                "INSERT INTO outcomes (workflow_id, invocation_id, seq, data)"
                " VALUES (%s, %s, %s, %s)",
                [(*key, seq, outcome) for seq, outcome in outcomes.items()],
            )
            cur.executemany(
                "INSERT INTO data (workflow_id, key, value) VALUES (%s, %s, %s)",
                [(wid, name, value) for name, value in data.items()],
            )
        return workflow, True
