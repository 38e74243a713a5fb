"""``SQLSweeps``: what the SQL stores' sweeps share (SQLite and PostgreSQL alike): the
heartbeat."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from wfcore._models import InvocationRef
from wfcore.store._sql_dialect import KEY, Dialect

__all__ = ["SQLSweeps"]


class SQLSweeps:
    """``heartbeat`` of the SQL stores (``SQLiteStore``, ``PostgresStore``)."""

    if TYPE_CHECKING:  # provided by the store
        _dialect: Dialect

        def _transaction(self) -> AbstractContextManager[Any]: ...

    def heartbeat(self, refs: Sequence[InvocationRef], now: float) -> None:
        """Set ``updated_at`` to ``now`` for each of these invocations that is RUNNING,
        unless it is already later."""
        if not refs:
            return
        keys = [(ref.workflow_id, ref.invocation_id) for ref in refs]
        d = self._dialect
        with self._transaction() as cur:
            self._lock_workflows(cur, sorted({wid for wid, _ in keys}))
            # The workflow's updated_at follows its root's; the root is touched last here.
            cur.executemany(
                d.q(
                    "UPDATE workflows SET updated_at = ? WHERE workflow_id = ?"
                    " AND root_invocation_id = ? AND EXISTS (SELECT 1 FROM invocations"
                    f" WHERE {KEY} AND status = 'RUNNING' AND updated_at < ?)"
                ),
                [(now, wid, iid, wid, iid, now) for wid, iid in keys],
            )
            cur.executemany(
                d.q(
                    f"UPDATE invocations SET updated_at = ? WHERE {KEY} AND status = 'RUNNING'"
                    " AND updated_at < ?"
                ),
                [(now, *key, now) for key in keys],
            )

    def _lock_workflows(self, cur: Any, workflow_ids: list[str]) -> None:
        """Lock the rows of these workflows (sorted by id) before the heartbeat writes them:
        nothing to do where a write transaction holds the whole database (SQLite)."""
