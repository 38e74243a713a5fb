"""Paging through ``StateStore.list_workflows``: opaque cursors and ``list_page``.

Every store lists workflows in one total order, newest first: ``created_at`` descending,
then ``workflow_id`` descending (code-point order, which is byte order in UTF-8). A cursor
names a position in that order (the last workflow of a page) plus a fingerprint of the
filters it was made for; the next page is every matching workflow strictly after that
position. It is keyset pagination, not an offset: a workflow created while someone pages
sorts before the position (it is newer), so it never shifts or repeats a later page, and a
deep page costs what the first one does.

A store implements ``list_workflows(..., cursor=...)`` by calling :func:`position` (which
checks the cursor and raises ``InvalidCursorError``) and listing what sorts after it;
:func:`list_page` builds the pages and their cursors on top of any store.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from wfcore._models import WorkflowRecord, WorkflowStatus
from wfcore.errors import ConfigurationError, InvalidCursorError

if TYPE_CHECKING:
    from wfcore.store import StateStore

__all__ = ["Position", "WorkflowPage", "cursor_for", "list_page", "position", "sort_key"]

_VERSION = 1
_CHECK = 6  # bytes of checksum: catches a cursor altered or cut short by copy and paste


class Position(NamedTuple):
    """A place in the listing order: the ``created_at`` and ``workflow_id`` of a workflow."""

    created_at: float
    workflow_id: str

    def before(self, record: WorkflowRecord) -> bool:
        """Whether ``record`` sorts after this position (it belongs to the next page)."""
        return (record.created_at, record.workflow_id) < self


@dataclass(frozen=True, slots=True)
class WorkflowPage:
    """One page of a listing: the workflows, and the cursor of the next page (None when
    this page is the last)."""

    workflows: list[WorkflowRecord]
    next_cursor: str | None


def sort_key(record: WorkflowRecord) -> tuple[float, str]:
    """The listing order's key (sort with ``reverse=True``: newest first)."""
    return record.created_at, record.workflow_id


def _fingerprint(
    status: WorkflowStatus | None,
    workflow_type: str | None,
    created_after: float | None,
    created_before: float | None,
) -> str:
    query = [
        None if status is None else WorkflowStatus(status).value,
        workflow_type,
        None if created_after is None else repr(float(created_after)),
        None if created_before is None else repr(float(created_before)),
    ]
    return hashlib.blake2b(json.dumps(query).encode(), digest_size=6).hexdigest()


def cursor_for(
    record: WorkflowRecord,
    *,
    status: WorkflowStatus | None = None,
    workflow_type: str | None = None,
    created_after: float | None = None,
    created_before: float | None = None,
) -> str:
    """The cursor of the page after ``record`` in the listing with these filters."""
    body = json.dumps(
        [
            _VERSION,
            repr(float(record.created_at)),
            record.workflow_id,
            _fingerprint(status, workflow_type, created_after, created_before),
        ],
        separators=(",", ":"),
    ).encode()
    check = hashlib.blake2b(body, digest_size=_CHECK).digest()
    return base64.urlsafe_b64encode(check + body).decode().rstrip("=")


def position(
    cursor: str | None,
    *,
    status: WorkflowStatus | None = None,
    workflow_type: str | None = None,
    created_after: float | None = None,
    created_before: float | None = None,
) -> Position | None:
    """Where a listing with these filters resumes after ``cursor`` (None: from the start).

    Raises:
        InvalidCursorError: ``cursor`` is not one ``cursor_for`` made, was altered, or was
            made for other filters.
    """
    if cursor is None:
        return None
    fix = "list again without a cursor to start from the first page"
    if not isinstance(cursor, str):
        raise InvalidCursorError(f"cursor {cursor!r} is not a string; {fix}")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        check, body = raw[:_CHECK], raw[_CHECK:]
        if hashlib.blake2b(body, digest_size=_CHECK).digest() != check:
            raise ValueError("checksum")
        version, created, workflow_id, fingerprint = json.loads(body)
        created_at = float(created)
        if version != _VERSION or not isinstance(workflow_id, str) or not math.isfinite(created_at):
            raise ValueError("content")
    except (ValueError, TypeError):
        shown = cursor if len(cursor) <= 80 else cursor[:77] + "..."
        raise InvalidCursorError(
            f"cursor {shown!r} is not a listing cursor wfcore made (malformed, altered or cut "
            f"short); {fix}"
        ) from None
    if fingerprint != _fingerprint(status, workflow_type, created_after, created_before):
        raise InvalidCursorError(
            "this cursor was made for a listing with other filters (status, type or time "
            f"range); pass the same filters as for the page it came from, or {fix}"
        )
    return Position(created_at, workflow_id)


def list_page(
    store: StateStore,
    *,
    status: WorkflowStatus | None = None,
    workflow_type: str | None = None,
    created_after: float | None = None,
    created_before: float | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> WorkflowPage:
    """One page of ``store.list_workflows`` and the cursor of the next one.

    Asks the store for one workflow more than ``limit`` to know whether a next page exists,
    so ``next_cursor`` is None exactly when nothing follows (as of this call).

    Raises:
        InvalidCursorError: see :func:`position`.
        ConfigurationError: ``limit`` is not a positive number.
    """
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ConfigurationError(f"limit must be a whole number >= 1, got {limit!r}")
    filters: dict[str, Any] = {
        "status": status,
        "workflow_type": workflow_type,
        "created_after": created_after,
        "created_before": created_before,
    }
    found = store.list_workflows(**filters, cursor=cursor, limit=limit + 1)
    page = found[:limit]
    more = len(found) > limit
    return WorkflowPage(page, cursor_for(page[-1], **filters) if more else None)
