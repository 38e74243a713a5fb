"""How the CLI shows things: rich tables for people, JSON for machines."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from wfcore._history import HistoryEvent
from wfcore._identity import run_of
from wfcore._models import WorkflowRecord
from wfcore._replay import ReplayResult
from wfcore.errors import ConfigurationError

if TYPE_CHECKING:
    from wfcore.engine import Repaired
from wfcore.store import StateStore

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "UnregisteredModel",
    "history",
    "history_data",
    "plain",
    "message",
    "repairs",
    "replays",
    "result",
    "show",
    "show_data",
    "tree",
    "tree_data",
    "workflows",
    "workflows_data",
]


class UnregisteredModel:
    """A stored pydantic model whose class the CLI does not know (no ``--app`` registers it):
    its class name and fields, shown as they are."""

    __slots__ = ("fields", "type_name")

    def __init__(self, type_name: str, fields: Any) -> None:
        self.type_name = type_name
        self.fields = fields

    def __repr__(self) -> str:
        return f"<unregistered model {self.type_name}: {self.fields!r}>"

    __str__ = __repr__


def _console() -> Console:
    from rich.console import Console

    # Wide enough for ids and timestamps when stdout is a pipe (rich would assume 80).
    console = Console(width=None if sys.stdout.isatty() else 160)
    # rich would exit(1) on a closed pipe; the CLI's main() exits quietly with its own code.
    console.on_broken_pipe = _broken_pipe  # type: ignore[method-assign]
    return console


def _broken_pipe() -> None:
    raise BrokenPipeError


def _json(value: Any) -> None:
    print(json.dumps(value, default=plain, indent=2))


def plain(value: Any) -> Any:
    """``json.dumps``'s ``default`` for decoded values (the CLI's ``--json`` and the web API)."""
    # What JSON cannot hold, as JSON: models as their fields, sets as lists, the rest as text.
    if isinstance(value, UnregisteredModel):
        return {"unregistered_model": value.type_name, "fields": value.fields}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, set | frozenset):
        return list(value)
    return str(value)


def _text(value: Any) -> str:
    # Models by repr (class and fields); str() of a pydantic model drops its class name.
    return repr(value) if isinstance(value, BaseModel) else str(value)


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _short(value: Any, limit: int = 48) -> str:
    text = "" if value is None else _text(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def message(text: str, data: dict[str, Any], *, as_json: bool) -> None:
    """One line for people, or its data as JSON."""
    if as_json:
        _json(data)
    else:
        _console().print(text, highlight=False)


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A plain table of text cells."""
    from rich.table import Table

    shown = Table(title=title)
    for column in columns:
        shown.add_column(column)
    for row in rows:
        shown.add_row(*row)
    _console().print(shown)


def workflows_data(records: Sequence[WorkflowRecord]) -> list[dict[str, Any]]:
    """The ``--json`` form of a listing of workflows."""
    return [r.model_dump(mode="json", exclude={"root_invocation_id"}) for r in records]


def workflows(records: Sequence[WorkflowRecord], *, as_json: bool) -> None:
    """A table of workflows."""
    if as_json:
        _json(workflows_data(records))
        return
    from rich.table import Table

    table = Table(title=f"{len(records)} workflow(s)")
    for column in ("workflow id", "type", "status", "created (UTC)", "parent"):
        table.add_column(column)
    for r in records:
        table.add_row(
            r.workflow_id, r.workflow_type, r.status.value, _when(r.created_at),
            r.parent_workflow_id or (f"fork of {r.forked_from}" if r.forked_from else ""),
        )  # fmt: skip
    _console().print(table)


def show_data(record: WorkflowRecord, values: dict[str, Any]) -> dict[str, Any]:
    """The ``--json`` form of ``show``: the record with its decoded ``values``, and which
    run of the workflow is the current one (``wf.continue_as_new`` starts another)."""
    return {**record.model_dump(mode="json"), "run": run_of(record.root_invocation_id)[1], **values}


def show(record: WorkflowRecord, values: dict[str, Any], *, as_json: bool) -> None:
    """One workflow with its arguments and result or error (``values``), and what of them
    could not be read (``values["unreadable"]``: part -> why)."""
    data = show_data(record, values)
    if as_json:
        _json(data)
        return
    from rich.table import Table

    table = Table(title=f"Workflow {record.workflow_id}", show_header=False)
    unreadable = data.pop("unreadable", {})
    for key, value in data.items():
        table.add_row(key, _when(value) if key.endswith("_at") else _text(value))
    for key, why in unreadable.items():
        table.add_row(key, f"<unreadable: {why}>")
    _console().print(table)


def data(workflow_id: str, values: dict[str, Any], key: str | None, as_json: bool) -> None:
    """A workflow's data: every key as a table, or one key's value.

    Raises:
        ConfigurationError: ``key`` was never set.
    """
    if key is not None:
        if key not in values:
            raise ConfigurationError(
                f"workflow {workflow_id!r} has no data {key!r}; it has "
                f"{', '.join(map(repr, values)) or 'none'}"
            )
        if as_json:
            _json(values[key])
        else:
            _console().print(_text(values[key]), highlight=False)
        return
    if as_json:
        _json(values)
        return
    from rich.table import Table

    table = Table(title=f"Data of workflow {workflow_id}")
    table.add_column("key")
    table.add_column("value")
    for name, value in values.items():
        table.add_row(name, _text(value))
    _console().print(table)


def result(workflow_id: str, value: Any) -> None:
    """A workflow's result as a two-column table (dicts) or one line."""
    from rich.table import Table

    table = Table(title=f"Workflow {workflow_id}: result", show_header=False)
    items = value.items() if isinstance(value, dict) else [("result", value)]
    for key, item in items:
        table.add_row(str(key), _text(item))
    _console().print(table)


def history_data(events: Sequence[HistoryEvent]) -> list[dict[str, Any]]:
    """The ``--json`` form of a history (values decoded, not yet made JSON: see ``plain``)."""
    return [
        {
            "timestamp": e.timestamp, "invocation_id": e.invocation_id,
            "task": e.task_name, "seq": e.seq, "kind": e.kind, "name": e.name,
            "ok": e.ok, "value": e.value,
        }
        for e in events
    ]  # fmt: skip


def history(events: Sequence[HistoryEvent], *, as_json: bool) -> None:
    """A workflow's history, one row per event."""
    if as_json:
        _json(history_data(events))
        return
    from rich.table import Table

    table = Table(title="History")
    for column in ("time (UTC)", "task", "seq", "event", "name", "value"):
        table.add_column(column)
    for e in events:
        table.add_row(
            _when(e.timestamp)[11:], e.task_name, "" if e.seq is None else str(e.seq),
            e.kind if e.ok else f"{e.kind} (error)", e.name, _short(e.value),
        )  # fmt: skip
    _console().print(table)


def tree_data(store: StateStore, root: WorkflowRecord) -> dict[str, Any]:
    """A workflow and its descendants, with statuses, and its fork lineage: the workflow it
    was forked from and the forks made of it (``forked_from``, ``forks``)."""

    def node(record: WorkflowRecord) -> dict[str, Any]:
        children = [node(child) for child in store.child_workflows(record.workflow_id)]
        return {
            "workflow_id": record.workflow_id,
            "type": record.workflow_type,
            "status": record.status.value,
            "children": children,
        }

    data = node(root)
    forks = sorted(
        (w for w in store.list_workflows(limit=10_000) if w.forked_from == root.workflow_id),
        key=lambda w: w.created_at,
    )
    if root.forked_from is not None:
        data["forked_from"] = root.forked_from
    if forks:
        data["forks"] = [
            {"workflow_id": w.workflow_id, "type": w.workflow_type, "status": w.status.value}
            for w in forks
        ]
    return data


def tree(store: StateStore, root: WorkflowRecord, *, as_json: bool) -> None:
    """A workflow and its descendants, with statuses, and its fork lineage."""
    data = tree_data(store, root)
    if as_json:
        _json(data)
        return
    from rich.tree import Tree

    def add(branch: Tree, item: dict[str, Any]) -> None:
        for child in item["children"]:
            add(branch.add(_label(child)), child)

    origin = f"  (fork of {root.forked_from})" if root.forked_from else ""
    top = Tree(_label(data) + origin)
    add(top, data)
    if "forks" in data:
        lineage = top.add("forks")
        for fork in data["forks"]:
            lineage.add(_label(fork))
    _console().print(top)


def _label(item: dict[str, Any]) -> str:
    return f"{item['workflow_id']}  {item['type']}  [{item['status']}]"


def replays(results: Sequence[tuple[Path, ReplayResult]], *, as_json: bool) -> None:
    """Replay outcomes, with the first divergence of each failing file."""
    if as_json:
        _json(
            [
                {
                    "file": str(path),
                    "workflow_id": r.workflow_id,
                    "ok": r.ok,
                    "invocations": r.invocations,
                    "events": r.events,
                    "settled": r.settled,
                    "skipped": r.skipped,
                    "divergence": None if r.divergence is None else r.divergence.message,
                    "source": None if r.divergence is None else r.divergence.source,
                }
                for path, r in results
            ]
        )
        return
    console = _console()
    for path, r in results:
        if r.ok:
            console.print(
                f"replay ok: {path} ({r.invocations} invocations, {r.events} operations; "
                f"{len(r.settled)} without operations not re-run)",
                highlight=False,
            )
        else:
            d = r.divergence
            assert d is not None
            where = f" at {d.source}" if d.source else ""
            console.print(f"replay DIVERGED: {path}{where}\n  {d.message}", highlight=False)


def repairs(command: str, done: Sequence[Repaired], *, as_json: bool, single: bool) -> None:
    """What ``wfcore resume``/``fork`` did to each workflow."""
    items = [
        {
            "workflow_id": item.workflow_id,
            "result_id": item.result_id,
            "created": item.created,
            "error": None if item.error is None else str(item.error),
        }
        for item in done
    ]
    if as_json:
        _json(items[0] if single and items else items)
        return
    console = _console()
    for item in items:
        if item["error"] is not None:
            console.print(f"{item['workflow_id']}: refused: {item['error']}", highlight=False)
        elif command == "resume":
            console.print(f"{item['workflow_id']}: resumed", highlight=False)
        else:
            made = "forked as" if item["created"] else "already forked as"
            console.print(f"{item['workflow_id']}: {made} {item['result_id']}", highlight=False)
    if not single:
        failed = sum(1 for item in items if item["error"] is not None)
        console.print(f"{len(items) - failed} done, {failed} refused", highlight=False)
