"""``SQLiteSweeps``: the SQLite store's side of recovery: sweeps claim stale invocations,
heartbeats keep running ones fresh."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from wfcore._models import InvocationRecord
from wfcore.errors import DecodeError
from wfcore.store import _sqlite_layout as layout
from wfcore.store._sql_sweeps import SQLSweeps

__all__ = ["SQLiteSweeps"]

log = logging.getLogger("wfcore.store.sqlite")


class SQLiteSweeps(SQLSweeps):
    """``recover_candidates`` (and, shared, ``heartbeat``) of
    :class:`~wfcore.store.sqlite.SQLiteStore`."""

    if TYPE_CHECKING:  # provided by SQLiteStore
        _path: str

        def _read(self, sql: str, params: Sequence[Any]) -> list[Any]: ...

        def _transaction(
            self, begin: str = layout.WRITE
        ) -> AbstractContextManager[sqlite3.Connection]: ...

    def recover_candidates(
        self, *, older_than: float, now: float, limit: int = 100
    ) -> list[InvocationRecord]:
        """Claim up to ``limit`` unfinished invocations not updated since ``older_than``.

        Oldest ``updated_at`` first (ties by workflow id, then invocation id); each returned
        one now has ``updated_at == now``.
        """
        # A plain read first: when nothing is stale (nearly always) no write lock is taken.
        probe = f"SELECT EXISTS (SELECT 1 FROM invocations {layout.STALE})"
        if not self._read(probe, (older_than,))[0][0] or limit <= 0:
            return []
        with self._transaction() as conn:
            rows = conn.execute(layout.STALE_ROWS, (older_than, limit)).fetchall()
            keys = [(now, row[1], row[0]) for row in rows]
            conn.executemany(f"UPDATE invocations SET updated_at = ? WHERE {layout.KEY}", keys)
            # The workflow's updated_at follows every write of its root invocation (as load
            # and _mirror keep it); a claimed root is such a write. Its status is unchanged.
            sql = "UPDATE workflows SET updated_at = ? WHERE workflow_id = ?"
            conn.executemany(f"{sql} AND root_invocation_id = ?", keys)
        claimed = []
        for row in rows:
            try:
                claimed.append(
                    layout.invocation_from_row(
                        (*row[: layout.I_UPDATED], now, *row[layout.I_UPDATED + 1 :])
                    )
                )
            except DecodeError as e:
                # One damaged row must not stop the sweep of every other invocation; it
                # stays claimed, so this is said again once per stale period.
                log.error("recovery sweep skipped a damaged row of %s: %s", self._path, e)
        return claimed
