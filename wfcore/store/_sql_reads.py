"""``SQLReads``: the SQL stores' reads of workflows and invocations, and their cancel flag
(SQLite and PostgreSQL alike)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from wfcore._models import InvocationRecord, WorkflowRecord
from wfcore.store._sql_dialect import KEY, Dialect

__all__ = ["SQLReads"]


class SQLReads:
    """``get_workflow``, ``child_workflows``, ``request_cancel``, ``get_invocation`` and
    ``list_invocations`` of the SQL stores (``SQLiteStore``, ``PostgresStore``)."""

    if TYPE_CHECKING:  # provided by the store
        _dialect: Dialect

        def _transaction(self) -> AbstractContextManager[Any]: ...

        def _read(self, sql: str, params: Sequence[Any]) -> list[Any]: ...

    # -- workflows -----------------------------------------------------------------------

    def get_workflow(self, workflow_id: str) -> WorkflowRecord | None:
        """The workflow, or None."""
        d = self._dialect
        rows = self._read(d.q(f"{d.select_wf} WHERE workflow_id = ?"), (workflow_id,))
        return d.workflow_from_row(rows[0]) if rows else None

    def child_workflows(self, workflow_id: str) -> list[WorkflowRecord]:
        """Workflows whose parent is ``workflow_id``, oldest first."""
        d = self._dialect
        sql = d.q(f"{d.select_wf} WHERE parent_workflow_id = ? ORDER BY created_at, {d.order}")
        return [d.workflow_from_row(r) for r in self._read(sql, (workflow_id,))]

    def request_cancel(self, workflow_id: str) -> WorkflowRecord | None:
        """Set the workflow's persistent cancel flag; the updated record, or None."""
        d = self._dialect
        with self._transaction() as cur:
            cur.execute(
                d.q(
                    "UPDATE workflows SET cancel_requested = ?, updated_at = ?"
                    " WHERE workflow_id = ? AND cancel_requested = ?"
                ),
                (True, time.time(), workflow_id, False),
            )
            row = cur.execute(d.q(f"{d.select_wf} WHERE workflow_id = ?"), (workflow_id,))
            found = row.fetchone()
        return None if found is None else d.workflow_from_row(found)

    # -- invocations ---------------------------------------------------------------------

    def get_invocation(self, workflow_id: str, invocation_id: str) -> InvocationRecord | None:
        """The invocation, or None."""
        d = self._dialect
        rows = self._read(d.q(f"{d.select_inv} WHERE {KEY}"), (workflow_id, invocation_id))
        return d.invocation_from_row(rows[0]) if rows else None

    def list_invocations(self, workflow_id: str) -> list[InvocationRecord]:
        """Every invocation of the workflow, oldest first."""
        d = self._dialect
        sql = d.q(f"{d.select_inv} WHERE workflow_id = ? ORDER BY created_at, {d.order}")
        return [d.invocation_from_row(r) for r in self._read(sql, (workflow_id,))]
