"""``SQLMarks``: the writes the SQL stores' commits (SQLite and PostgreSQL alike) make to
a workflow's and an invocation's own rows: progress marks them alive, and a workflow's status
follows its root invocation's."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from wfcore._models import WorkflowStatus
from wfcore.store import MARK_EVERY
from wfcore.store._sql_dialect import KEY, Dialect

__all__ = ["SET_WF", "SQLMarks"]

# A NULL expiry keeps the stored one: only finishing the root starts retention.
SET_WF = (
    "UPDATE workflows SET status = ?, updated_at = ?, expires_at = coalesce(?, expires_at)"
    " WHERE workflow_id = ?"
)


class SQLMarks:
    """``_touch`` and ``_mirror`` of the SQL stores (``SQLiteStore``, ``PostgresStore``)."""

    if TYPE_CHECKING:  # provided by the store
        _dialect: Dialect
        _retention: float | None

    def _touch(self, cur: Any, key: tuple[str, str], is_root: bool, marked: float) -> None:
        # Progress marks an invocation (and a root's workflow) alive; never back (a hold is
        # later).
        now = time.time()
        if marked >= now - MARK_EVERY:
            return  # marked alive a moment ago (or held until later)
        d = self._dialect
        later = f"updated_at = {d.greatest}(updated_at, ?)"
        cur.execute(d.q(f"UPDATE invocations SET {later} WHERE {KEY}"), (now, *key))
        if is_root:
            cur.execute(d.q(f"UPDATE workflows SET {later} WHERE workflow_id = ?"), (now, key[0]))

    def _mirror(self, cur: Any, workflow_id: str, status: WorkflowStatus, now: float) -> None:
        # The workflow's status follows its root invocation's.
        retention = self._retention
        expires = now + retention if status.finished and retention is not None else None
        cur.execute(self._dialect.q(SET_WF), (status.value, now, expires, workflow_id))
