"""``PostgresSweeps``: the PostgreSQL store's sweeps: recovery claims stale invocations,
heartbeats keep running ones fresh, purges delete finished workflows."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from wfcore._models import InvocationRecord
from wfcore.errors import DecodeError
from wfcore.store import _postgres_layout as layout
from wfcore.store._postgres_driver import psycopg
from wfcore.store._sql_rows import INV_FIELDS
from wfcore.store._sql_sweeps import SQLSweeps

__all__ = ["PostgresSweeps"]

log = logging.getLogger("wfcore.store.postgres")

Cursor = psycopg.Cursor[Any]
# Several workflows' rows are locked in id order (see layout.LOCK_WF); a sweep skips those
# being written (they are not stale), a heartbeat waits for them.
_LOCK_MANY = (
    "SELECT workflow_id FROM workflows WHERE workflow_id = ANY(%s) ORDER BY workflow_id"
    " FOR NO KEY UPDATE"
)
# Of the given (workflow, invocation) pairs, those still stale get updated_at = now (and a
# root's workflow too, whose updated_at follows its root's); the claimed rows come back.
_CLAIM = (
    "WITH claimed AS (UPDATE invocations i SET updated_at = %s"
    " FROM unnest(%s::text[], %s::text[]) AS k(wid, iid)"
    " WHERE i.workflow_id = k.wid AND i.invocation_id = k.iid"
    " AND i.status IN ('PENDING', 'RUNNING', 'SUSPENDED') AND i.updated_at <= %s"
    f" RETURNING {', '.join('i.' + f for f in INV_FIELDS)}),"
    " roots AS (UPDATE workflows w SET updated_at = %s FROM claimed c"
    " WHERE w.workflow_id = c.workflow_id AND w.root_invocation_id = c.invocation_id)"
    " SELECT * FROM claimed"
)


class PostgresSweeps(SQLSweeps):
    """``recover_candidates``, the purges (and, shared, ``heartbeat``) of
    :class:`~wfcore.store.postgres.PostgresStore`."""

    if TYPE_CHECKING:  # provided by PostgresStore
        _shown: str

        def _transaction(self) -> AbstractContextManager[Cursor]: ...

        def _read(self, sql: str, params: Sequence[Any]) -> list[Any]: ...

    def recover_candidates(
        self, *, older_than: float, now: float, limit: int = 100
    ) -> list[InvocationRecord]:
        """Claim up to ``limit`` unfinished invocations not updated since ``older_than``.

        Oldest ``updated_at`` first (ties by workflow id, then invocation id); each returned
        one now has ``updated_at == now``.
        """
        if limit <= 0:
            return []
        # A plain read first: when nothing is stale (nearly always) nothing is locked.
        keys = self._read(layout.STALE_KEYS, (older_than, limit))
        if not keys:
            return []
        with self._transaction() as cur:
            wids = sorted({wid for wid, _ in keys})
            free = {r[0] for r in cur.execute(f"{_LOCK_MANY} SKIP LOCKED", (wids,)).fetchall()}
            # Read anew under the locks: claimed only if still stale (another sweeper's claim,
            # or progress, made it fresh); workflows being written are left for later.
            pairs = [(wid, iid) for wid, iid in keys if wid in free]
            wanted = ([wid for wid, _ in pairs], [iid for _, iid in pairs])
            found = cur.execute(_CLAIM, (now, *wanted, older_than, now)).fetchall()
        position = {pair: i for i, pair in enumerate(pairs)}
        rows = sorted(found, key=lambda row: position[(row[1], row[0])])
        claimed = []
        for row in rows:
            try:
                claimed.append(layout.invocation_from_row(row))
            except DecodeError as e:
                # One damaged row must not stop the sweep of every other invocation; it
                # stays claimed, so this is said again once per stale period.
                log.error("recovery sweep skipped a damaged row of %s: %s", self._shown, e)
        return claimed

    def _lock_workflows(self, cur: Cursor, workflow_ids: list[str]) -> None:
        """Lock the rows of these workflows (sorted by id) before a heartbeat writes them;
        those being written are waited for."""
        cur.execute(_LOCK_MANY, (workflow_ids,))

    def purge_expired(self, now: float) -> int:
        """Delete finished workflows whose retention has passed; how many were deleted."""
        return self._purge("expires_at <= %s", (now,))

    def purge_finished(self, workflow_ids: Sequence[str], before: float) -> int:
        """Delete those of ``workflow_ids`` that are finished and were last updated before
        ``before``; how many were deleted."""
        where = "workflow_id = ANY(%s) AND status = ANY(%s) AND updated_at < %s"
        return self._purge(where, (list(workflow_ids), sorted(layout.FINISHED), before))

    def _purge(self, where: str, params: tuple[object, ...]) -> int:
        with self._transaction() as cur:
            # Checked again on each row as it is locked; one being written is left for later.
            doomed = cur.execute(
                f"SELECT workflow_id FROM workflows WHERE {where} ORDER BY workflow_id"
                " FOR UPDATE SKIP LOCKED",
                params,
            ).fetchall()
            ids = [wid for (wid,) in doomed]
            if not ids:
                return 0
            for table in ("entries", "outcomes", "data", "invocations", *layout.SIGNAL_TABLES):
                cur.execute(f"DELETE FROM {table} WHERE workflow_id = ANY(%s)", (ids,))
            cur.execute("DELETE FROM workflows WHERE workflow_id = ANY(%s)", (ids,))
        return len(ids)
