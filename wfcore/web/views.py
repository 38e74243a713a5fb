"""What the web view shows, as plain data: the JSON API returns it and the pages render it.

Listings, shows, histories and trees are the CLI's ``--json`` shapes (``wfcore._cli_render``);
the list's filters and cursor are ``wfcore._listing``'s (shared with ``wfcore list``); the
rest (the timeline, the invocation tree, the error with its traceback) is built here from
the store and the engine's public reads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from wfcore import _cli_render as render
from wfcore._history import HistoryEvent, error_info
from wfcore._inspect import workflow_values
from wfcore._listing import DATA_SCAN, MAX_LIMIT, SCAN, Listing, ListQuery, find, parse_time
from wfcore._models import InvocationRecord, WorkflowRecord, WorkflowStatus
from wfcore.engine import Engine
from wfcore.errors import WfError

__all__ = [
    "DATA_SCAN",
    "MAX_LIMIT",
    "SCAN",
    "Listing",
    "ListQuery",
    "detail",
    "invocation_tree",
    "list_workflows",
    "parse_time",
    "timeline",
    "to_json",
]

_SIGNAL_KINDS = frozenset(
    {"wait_signal", "poll_signal", "signal_received", "signal_timed_out", "signal_closed"}
)


def to_json(value: Any) -> str:
    """``value`` as JSON, decoded values made plain as in the CLI's ``--json``."""
    return json.dumps(value, default=render.plain)


def list_workflows(engine: Engine, query: ListQuery) -> Listing:
    """The page of workflows ``query`` asks for (``wfcore list`` lists the same)."""
    return find(engine, query)


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
