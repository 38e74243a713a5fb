"""What differs between the SQL stores (SQLite, PostgreSQL) in the statements they share.

Shared statements are written with ``?`` placeholders; ``Dialect.q`` turns them into the
driver's own (``%s`` for psycopg)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from wfcore._models import InvocationRecord, WorkflowRecord, WorkflowStatus

__all__ = ["FINISHED", "KEY", "Dialect"]

FINISHED = frozenset(s.value for s in WorkflowStatus if s.finished)
KEY = "workflow_id = ? AND invocation_id = ?"


@dataclass(frozen=True, slots=True)
class Dialect:
    """One SQL store's side of the statements the SQL stores share."""

    placeholder: str
    """``?`` (sqlite3) or ``%s`` (psycopg)."""
    lock: str
    """Appended to the read of the workflow row a write starts from: ``""`` where a write
    transaction holds the whole database (SQLite), a row lock otherwise."""
    order: str
    """The column that orders rows by insertion: ``rowid`` or ``ord``."""
    no_wait: Any
    """An empty ``waiting`` column: ``"[]"`` (JSON text) or ``[]`` (an array)."""
    insert_wf: str
    """INSERT of a workflow row (WF_FIELDS) that inserts nothing when the id exists."""
    insert_inv: str
    """INSERT of an invocation row (INV_FIELDS), likewise."""
    select_wf: str
    """SELECT of the WF_FIELDS of workflows (add a WHERE)."""
    select_inv: str
    """SELECT of the INV_FIELDS of invocations (add a WHERE)."""
    listed_id: str
    """``workflow_id`` as the listing orders and compares it (code-point order), matching
    the store's listing indexes."""
    no_limit: Any
    """The LIMIT parameter that means no limit: ``-1`` (SQLite) or ``None`` (PostgreSQL)."""
    greatest: str
    """The function of the larger of two values: ``max`` (SQLite) or ``greatest``."""
    workflow_from_row: Callable[[Sequence[Any]], WorkflowRecord]
    invocation_from_row: Callable[[Sequence[Any]], InvocationRecord]
    invocation_to_row: Callable[[str, Any], list[Any]]
    waiting: Callable[[Sequence[int]], Any]
    """The ``waiting`` column's value for these seqs (JSON text or an array)."""
    awaits: Callable[[Any, int], bool]
    """Whether a ``waiting`` value holds this seq."""
    count_missing: str
    """How many of the seqs in a ``waiting`` value (then the invocation's key) have no
    outcome yet; in the driver's own placeholders."""

    def q(self, sql: str) -> str:
        """``sql`` (``?`` placeholders) in this driver's placeholders."""
        return sql if self.placeholder == "?" else _converted(sql, self.placeholder)


@lru_cache(maxsize=256)
def _converted(sql: str, placeholder: str) -> str:
    return sql.replace("?", placeholder)
