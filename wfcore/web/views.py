"""What the web view shows, as plain data: the JSON API returns it and the pages render it.

Listings, shows, histories and trees are the CLI's ``--json`` shapes (``wfcore._cli_render``);
the rest (the list's filters and cursor, the timeline, the invocation tree, the error with its
traceback) is built here from the store and the engine's public reads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wfcore import _cli_render as render
from wfcore._history import HistoryEvent, error_info
from wfcore._inspect import workflow_values
from wfcore._models import InvocationRecord, WorkflowRecord, WorkflowStatus
from wfcore.engine import Engine
from wfcore.errors import ConfigurationError, WfError

__all__ = [
    "MAX_LIMIT",
    "Listing",
    "ListQuery",
    "detail",
    "invocation_tree",
    "list_workflows",
    "parse_time",
    "timeline",
    "to_json",
]

MAX_LIMIT = 500
# The store lists newest first with filters on status and type only: the other filters and
# the cursor are applied to at most this many of the newest workflows.
SCAN = 10_000
# Searching data values decodes each candidate's data: at most this many are searched.
DATA_SCAN = 1_000
_SIGNAL_KINDS = frozenset(
    {"wait_signal", "poll_signal", "signal_received", "signal_timed_out", "signal_closed"}
)


def to_json(value: Any) -> str:
    """``value`` as JSON, decoded values made plain as in the CLI's ``--json``."""
    return json.dumps(value, default=render.plain)


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
    """The list page's filters; each None or empty when not used."""

    status: WorkflowStatus | None = None
    workflow_type: str | None = None
    search: str | None = None  # a workflow id or idempotency key, or part of one
    data: str | None = None  # text somewhere in a data value (as JSON)
    since: float | None = None
    until: float | None = None
    limit: int = 50
    cursor: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> ListQuery:
        """From query parameters ``status``, ``type``, ``q``, ``data``, ``since``, ``until``,
        ``limit`` and ``cursor``.

        Raises:
            ConfigurationError: a parameter has a value it cannot take.
        """
        status = params.get("status") or None
        if status is not None and status not in WorkflowStatus.__members__:
            choices = ", ".join(s.value for s in WorkflowStatus)
            raise ConfigurationError(f"status {status!r} is not one of {choices}")
        raw_limit = params.get("limit") or "50"
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            raise ConfigurationError(f"limit {raw_limit!r} is not a number from 1 to {MAX_LIMIT}")
        cursor = params.get("cursor") or None
        if cursor is not None:
            _cursor_key(cursor)
        return cls(
            status=None if status is None else WorkflowStatus(status),
            workflow_type=params.get("type") or None,
            search=(params.get("q") or "").strip() or None,
            data=params.get("data") or None,
            since=parse_time(params.get("since"), "since"),
            until=parse_time(params.get("until"), "until"),
            limit=int(raw_limit),
            cursor=cursor,
        )


@dataclass(frozen=True, slots=True)
class Listing:
    """One page of workflows and what it took to find them."""

    workflows: list[WorkflowRecord]
    next_cursor: str | None
    scanned: int  # how many of the newest workflows were looked at
    complete: bool  # False when the scan stopped at SCAN or DATA_SCAN before the end

    def as_json(self) -> dict[str, Any]:
        return {
            "workflows": render.workflows_data(self.workflows),
            "next_cursor": self.next_cursor,
            "scanned": self.scanned,
            "complete": self.complete,
        }


def _cursor(record: WorkflowRecord) -> str:
    return f"{record.created_at!r}:{record.workflow_id}"


def _cursor_key(cursor: str) -> tuple[float, str]:
    created, sep, workflow_id = cursor.partition(":")
    try:
        if not sep:
            raise ValueError(cursor)
        return -float(created), workflow_id
    except ValueError:
        raise ConfigurationError(
            f"cursor {cursor!r} is not one this view made; start again without it"
        ) from None


def list_workflows(engine: Engine, query: ListQuery) -> Listing:
    """The page of workflows ``query`` asks for, newest first (ties by id)."""
    store = engine.store
    exact = store.get_workflow(query.search) if query.search else None
    records = [exact] if exact is not None else []
    if exact is None:
        records = store.list_workflows(
            status=query.status, workflow_type=query.workflow_type, limit=SCAN
        )
    complete = len(records) < SCAN
    records.sort(key=lambda r: (-r.created_at, r.workflow_id))
    after = None if query.cursor is None else _cursor_key(query.cursor)
    found: list[WorkflowRecord] = []
    data_searched = 0
    for record in records:
        if after is not None and (-record.created_at, record.workflow_id) <= after:
            continue
        if not _matches(record, query):
            continue
        if query.data is not None:
            if data_searched == DATA_SCAN:
                complete = False
                break
            data_searched += 1
            if not _data_matches(engine, record.workflow_id, query.data):
                continue
        found.append(record)
        if len(found) > query.limit:
            break
    more = len(found) > query.limit
    page = found[: query.limit]
    next_cursor = _cursor(page[-1]) if more else None
    return Listing(page, next_cursor, len(records), complete)


def _matches(record: WorkflowRecord, query: ListQuery) -> bool:
    if query.status is not None and record.status is not query.status:
        return False
    if query.workflow_type is not None and record.workflow_type != query.workflow_type:
        return False
    if query.since is not None and record.created_at < query.since:
        return False
    if query.until is not None and record.created_at >= query.until:
        return False
    if query.search is not None:
        key = record.idempotency_key or ""
        return query.search in record.workflow_id or query.search in key
    return True


def _data_matches(engine: Engine, workflow_id: str, text: str) -> bool:
    try:
        values = engine.data(workflow_id)
    except WfError:
        return False
    return any(text in to_json(value) for value in values.values())


def detail(engine: Engine, record: WorkflowRecord) -> dict[str, Any]:
    """Everything the workflow page shows, by section (decoded values, not yet JSON)."""
    workflow_id = record.workflow_id
    events = engine.history(workflow_id)
    invocations = engine.store.list_invocations(workflow_id)
    try:
        data: dict[str, Any] = engine.data(workflow_id)
        data_error = None
    except WfError as exc:
        data, data_error = {}, str(exc)
    return {
        "show": render.show_data(record, workflow_values(engine, record)),
        "error": _error(engine, record),
        "tree": render.tree_data(engine.store, record),
        "invocations": invocation_tree(invocations),
        "timeline": timeline(events, invocations, finished=record.status.finished),
        "history": render.history_data(events),
        "signals": [e for e in render.history_data(events) if e["kind"] in _SIGNAL_KINDS],
        "waiting_for": _waiting_signals(events),
        "data": data,
        "data_error": data_error,
    }


def _error(engine: Engine, record: WorkflowRecord) -> dict[str, str] | None:
    if record.status is not WorkflowStatus.FAILED:
        return None
    try:
        outcome = engine.outcome(record.workflow_id)
    except WfError as exc:
        return {"type": "unreadable", "message": str(exc), "traceback": ""}
    if outcome is None:
        return None
    type_name, message, traceback = error_info(outcome.value)
    return {"type": type_name, "message": message, "traceback": traceback}


def _waiting_signals(events: Iterable[HistoryEvent]) -> list[str]:
    """Names of the signal waits not ended yet: what a signal sent now would wake."""
    open_waits: dict[tuple[str, int | None], str] = {}
    for e in events:
        if e.kind == "wait_signal":
            open_waits[(e.invocation_id, e.seq)] = e.name
        elif e.kind in ("signal_received", "signal_timed_out", "signal_closed"):
            open_waits.pop((e.invocation_id, e.seq), None)
    return sorted(set(open_waits.values()))


def invocation_tree(invocations: list[InvocationRecord]) -> list[dict[str, Any]]:
    """The workflow's invocations nested under the invocation that started each one."""
    nodes: dict[str, dict[str, Any]] = {
        inv.invocation_id: {
            "invocation_id": inv.invocation_id,
            "task": inv.task_name,
            "status": inv.status.value,
            "attempts": inv.attempts,
            "created_at": inv.created_at,
            "children": [],
        }
        for inv in invocations
    }
    top: list[dict[str, Any]] = []
    for inv in invocations:
        parent = nodes.get(inv.parent_invocation_id or "")
        (top if parent is None else parent["children"]).append(nodes[inv.invocation_id])
    return top


_STARTS = frozenset({"task_started", "task_resumed"})
_ENDS = {"task_completed": "completed", "task_failed": "failed", "task_cancelled": "cancelled"}


def timeline(
    events: Iterable[HistoryEvent],
    invocations: list[InvocationRecord],
    *,
    finished: bool,
    now: float | None = None,
) -> dict[str, Any]:
    """One row per invocation: its spans (``running``, ``suspended``, ``queued`` before a
    start or after a retry) and marks (``retry``, its end), each with ``left`` and ``width``
    in percent of the workflow's whole time, so that they are drawn to scale."""
    rows: dict[str, dict[str, Any]] = {
        inv.invocation_id: {"invocation_id": inv.invocation_id, "task": inv.task_name,
                            "spans": [], "marks": [], "open": None}
        for inv in invocations
    }  # fmt: skip
    times: list[float] = []
    for e in events:
        row = rows.get(e.invocation_id)
        # Lifecycle events only; the root's ``workflow_*`` copies would cut its spans short.
        if row is None or e.seq is not None or not e.kind.startswith("task_"):
            continue
        times.append(e.timestamp)
        state = None
        if e.kind == "task_created":
            state = "queued"
        elif e.kind in _STARTS:
            state = "running"
        elif e.kind == "task_suspended":
            state = "suspended"
        elif e.kind == "task_retrying":
            state = "queued"
            row["marks"].append({"at": e.timestamp, "kind": "retry"})
        elif e.kind in _ENDS:
            row["marks"].append({"at": e.timestamp, "kind": _ENDS[e.kind]})
        _close(row, e.timestamp)
        if state is not None:
            row["open"] = (state, e.timestamp)
    if not times:
        return {"start": None, "end": None, "rows": []}
    start = min(times)
    end = max(times) if finished else max(max(times), now or time.time())
    for row in rows.values():
        _close(row, end)
    scale = 100.0 / (end - start) if end > start else 0.0
    for row in rows.values():
        for item in row["spans"]:
            item["left"] = (item["start"] - start) * scale
            item["width"] = max((item["end"] - item["start"]) * scale, 0.3)
        for mark in row["marks"]:
            mark["left"] = (mark["at"] - start) * scale
        del row["open"]
    return {"start": start, "end": end, "rows": list(rows.values())}


def _close(row: dict[str, Any], at: float) -> None:
    if row["open"] is not None:
        state, since = row["open"]
        row["spans"].append({"state": state, "start": since, "end": at})
        row["open"] = None
