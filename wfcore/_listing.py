"""Finding workflows for an operator: the filters of ``wfcore list`` and of the web view's
list page (and its JSON API), on top of the store's keyset pages (``wfcore.store.listing``).

Status, type and the creation time range are the store's own filters: a page of those is
one index walk from its cursor, however deep. Searching an id or idempotency key (``q``) or
a data value (``data``) filters what the store lists in Python, page by page from the
cursor, looking at no more than ``SCAN`` workflows (and decoding the data of no more than
``DATA_SCAN``) per request; the returned cursor then continues the search where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wfcore import _cli_render as render
from wfcore._identity import workflow_id_for_key
from wfcore._models import WorkflowRecord, WorkflowStatus
from wfcore.engine import Engine
from wfcore.errors import ConfigurationError, WfError
from wfcore.store import StateStore
from wfcore.store.listing import cursor_for, list_page, position

__all__ = [
    "DATA_SCAN",
    "MAX_LIMIT",
    "SCAN",
    "ListQuery",
    "Listing",
    "every_page",
    "find",
    "parse_time",
]

MAX_LIMIT = 500
# A search (q, data) looks at no more than this many workflows per request (its cursor goes
# on from there): about 100 ms on SQLite or Redis on a small machine (benchmarks/b9).
SCAN = 5_000
# Searching data values decodes each candidate's data: at most this many per request.
DATA_SCAN = 1_000
_BATCH = 500


def parse_time(text: str | None, what: str) -> float | None:
    """An ISO 8601 date or time (UTC when no offset is given) or epoch seconds, as epoch.

    Raises:
        ConfigurationError: ``text`` is neither.
    """
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigurationError(
            f"{what} {text!r} is not a time; use ISO 8601 (2026-01-31 or 2026-01-31T12:00, "
            "UTC unless an offset is given) or epoch seconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@dataclass(frozen=True, slots=True)
class ListQuery:
    """The list's filters; each None or empty when not used."""

    status: WorkflowStatus | None = None
    workflow_type: str | None = None
    search: str | None = None  # a workflow id or idempotency key, or part of one
    data: str | None = None  # text somewhere in a data value (as JSON)
    since: float | None = None  # created at or after
    until: float | None = None  # created before
    limit: int = 50
    cursor: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str | None]) -> ListQuery:
        """From query parameters ``status``, ``type``, ``q``, ``data``, ``since``, ``until``,
        ``limit`` and ``cursor`` (the web view's and the JSON API's names).

        Raises:
            ConfigurationError: a parameter has a value it cannot take (``InvalidCursorError``
                for a cursor that is not one of this listing's).
        """
        status = params.get("status") or None
        if status is not None and status not in WorkflowStatus.__members__:
            choices = ", ".join(s.value for s in WorkflowStatus)
            raise ConfigurationError(f"status {status!r} is not one of {choices}")
        raw_limit = str(params.get("limit") or "50")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            raise ConfigurationError(f"limit {raw_limit!r} is not a number from 1 to {MAX_LIMIT}")
        query = cls(
            status=None if status is None else WorkflowStatus(status),
            workflow_type=params.get("type") or None,
            search=(params.get("q") or "").strip() or None,
            data=params.get("data") or None,
            since=parse_time(params.get("since"), "since"),
            until=parse_time(params.get("until"), "until"),
            limit=int(raw_limit),
            cursor=params.get("cursor") or None,
        )
        position(query.cursor, **query.store_filters())  # a bad cursor fails here, typed
        return query

    def store_filters(self) -> dict[str, Any]:
        """The filters the store applies itself (``StateStore.list_workflows``)."""
        return {
            "status": self.status,
            "workflow_type": self.workflow_type,
            "created_after": self.since,
            "created_before": self.until,
        }


@dataclass(frozen=True, slots=True)
class Listing:
    """One page of workflows and what it took to find them."""

    workflows: list[WorkflowRecord]
    next_cursor: str | None
    scanned: int  # how many workflows the store listed for this page
    complete: bool  # False when a search stopped at SCAN or DATA_SCAN (the cursor goes on)

    def as_json(self) -> dict[str, Any]:
        return {
            "workflows": render.workflows_data(self.workflows),
            "next_cursor": self.next_cursor,
            "scanned": self.scanned,
            "complete": self.complete,
        }


def every_page(
    store: StateStore, *, page_size: int = 1_000, **filters: Any
) -> Iterator[WorkflowRecord]:
    """Every workflow the store lists with ``filters`` (those of ``list_workflows``), newest
    first, read a page at a time by cursor."""
    cursor = None
    while True:
        page = list_page(store, **filters, cursor=cursor, limit=page_size)
        yield from page.workflows
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def find(engine: Engine, query: ListQuery) -> Listing:
    """The page of workflows ``query`` asks for, newest first (ties by id)."""
    store = engine.store
    if query.search is None and query.data is None:
        page = list_page(store, **query.store_filters(), cursor=query.cursor, limit=query.limit)
        return Listing(page.workflows, page.next_cursor, len(page.workflows), True)
    if query.search is not None and query.cursor is None:
        # The id itself, or the workflow its idempotency key names: one read each.
        for workflow_id in (query.search, workflow_id_for_key(query.search)):
            exact = store.get_workflow(workflow_id)
            if exact is not None and _in_range(exact, query):
                return Listing([exact], None, 1, True)
    return _search(engine, query)


def _search(engine: Engine, query: ListQuery) -> Listing:
    filters = query.store_filters()
    found: list[WorkflowRecord] = []
    cursor, scanned, decoded = query.cursor, 0, 0
    while scanned < SCAN:
        want = min(_BATCH, SCAN - scanned)
        batch = engine.store.list_workflows(**filters, cursor=cursor, limit=want)
        for record in batch:
            scanned += 1
            cursor = cursor_for(record, **filters)
            if not _matches(record, query):
                continue
            if query.data is not None:
                if decoded == DATA_SCAN:
                    # This record was not searched: continue from the one before it.
                    return Listing(found, _cursor_before(record, query), scanned - 1, False)
                decoded += 1
                if not _data_matches(engine, record.workflow_id, query.data):
                    continue
            found.append(record)
            if len(found) == query.limit:
                return Listing(found, cursor, scanned, True)
        if len(batch) < want:
            return Listing(found, None, scanned, True)
    return Listing(found, cursor, scanned, False)


def _cursor_before(record: WorkflowRecord, query: ListQuery) -> str:
    """A cursor whose next page starts with ``record``: at its time, with an id just above
    its own (nothing sorts between ``id`` and ``id + "\\0"``)."""
    twin = record.model_copy(update={"workflow_id": record.workflow_id + "\0"})
    return cursor_for(twin, **query.store_filters())


def _in_range(record: WorkflowRecord, query: ListQuery) -> bool:
    return (
        (query.status is None or record.status is query.status)
        and (query.workflow_type is None or record.workflow_type == query.workflow_type)
        and (query.since is None or record.created_at >= query.since)
        and (query.until is None or record.created_at < query.until)
    )


def _matches(record: WorkflowRecord, query: ListQuery) -> bool:
    if query.search is not None:
        key = record.idempotency_key or ""
        return query.search in record.workflow_id or query.search in key
    return True


def _data_matches(engine: Engine, workflow_id: str, text: str) -> bool:
    try:
        values = engine.data(workflow_id)
    except WfError:
        return False
    return any(text in json.dumps(value, default=render.plain) for value in values.values())
