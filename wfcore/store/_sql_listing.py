"""``list_workflows`` on the SQL stores: one SELECT walking one listing index from a cursor."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from wfcore._models import WorkflowRecord, WorkflowStatus
from wfcore.store import listing
from wfcore.store._sql_dialect import Dialect

__all__ = ["SQLListing", "listing_query"]


class SQLListing:
    """The listing part of the SQL stores (``SQLiteStore``, ``PostgresStore``)."""

    # Provided by the store.
    _dialect: Dialect
    _read: Callable[[str, Sequence[Any]], list[Any]]

    def list_workflows(
        self,
        *,
        status: WorkflowStatus | None = None,
        workflow_type: str | None = None,
        limit: int = 100,
        created_after: float | None = None,
        created_before: float | None = None,
        cursor: str | None = None,
    ) -> list[WorkflowRecord]:
        """Workflows, newest first (ties by id), filtered; see ``StateStore.list_workflows``.

        One walk down the store's index of the filters used (``LISTING_INDEXES``), from the
        cursor.
        """
        after = listing.position(
            cursor,
            status=status,
            workflow_type=workflow_type,
            created_after=created_after,
            created_before=created_before,
        )
        d = self._dialect
        sql, params = listing_query(
            d, status, workflow_type, created_after, created_before, after, limit
        )
        records = [d.workflow_from_row(r) for r in self._read(sql, params)]
        return records[:limit] if limit < 0 else records

    def count_workflows(self, status: WorkflowStatus) -> int:
        """How many workflows have ``status``: a count over its listing index."""
        sql = self._dialect.q("SELECT count(*) FROM workflows WHERE status = ?")
        return int(self._read(sql, (WorkflowStatus(status).value,))[0][0])


def listing_query(
    dialect: Dialect,
    status: WorkflowStatus | None,
    workflow_type: str | None,
    created_after: float | None,
    created_before: float | None,
    after: tuple[float, str] | None,
    limit: int,
) -> tuple[str, tuple[object, ...]]:
    """The SELECT of ``list_workflows`` and its parameters (a negative ``limit``: no limit).

    Its WHERE fixes the leading columns of one of the store's listing indexes and its ORDER
    BY walks the rest, so the database reads only the rows of the page (no sort, no OFFSET).
    Ids compare as ``dialect.listed_id`` does (code-point order on every store).
    """
    terms: list[str] = []
    params: list[object] = []
    for term, value in (
        ("status = ?", None if status is None else WorkflowStatus(status).value),
        ("workflow_type = ?", workflow_type),
        ("created_at >= ?", created_after),
        ("created_at < ?", created_before),
    ):
        if value is not None:
            terms.append(term)
            params.append(value)
    key = dialect.listed_id
    if after is not None:
        terms.append(f"(created_at, {key}) < (?, ?)")
        params += after
    clause = f" WHERE {' AND '.join(terms)}" if terms else ""
    sql = f"{dialect.select_wf}{clause} ORDER BY created_at DESC, {key} DESC LIMIT ?"
    return dialect.q(sql), (*params, dialect.no_limit if limit < 0 else limit)
