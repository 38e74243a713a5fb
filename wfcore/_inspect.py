"""Reading a store from outside any worker, as the CLI and the web view do: an engine that
decodes values (unknown models shown generically) but runs nothing, and a workflow's values."""

from __future__ import annotations

from typing import Any

from wfcore import _cli_render as render
from wfcore._codec import Codec
from wfcore._models import WorkflowRecord
from wfcore.engine import Engine, outcome_value
from wfcore.errors import ConfigurationError, WfError, WorkflowNotFoundError
from wfcore.store import StateStore

__all__ = ["inspecting_engine", "workflow_values"]


def inspecting_engine(store: StateStore, app: Engine | None = None) -> Engine:
    """An engine over ``store`` whose codec knows ``app``'s registered types, if any; values
    of models nobody registered are shown as such rather than failing the command."""
    codec = Codec(
        types=app.codec.registered_types() if app is not None else (),
        unregistered_model=render.UnregisteredModel,
    )
    return Engine(store=store, dispatcher=_NoQueue(), tasks=_no_tasks, codec=codec)


def workflow_values(engine: Engine, record: WorkflowRecord) -> dict[str, Any]:
    """The root's arguments, the outcome, the workflow's data and its child workflows (its
    lineage upwards is in the record), each shown even if another cannot be read."""
    values: dict[str, Any] = {}
    unreadable: dict[str, str] = {}
    workflow_id = record.workflow_id
    try:
        root = engine.store.get_invocation(workflow_id, record.root_invocation_id)
        if root is not None:
            args, kwargs = engine.codec.decode(root.args, what=f"arguments of {workflow_id!r}")
            values["args"] = args
            if kwargs:
                values["kwargs"] = kwargs
    except (WfError, TypeError, ValueError) as exc:
        unreadable["args"] = str(exc)
    try:
        outcome = engine.outcome(workflow_id)
    except WfError as exc:
        unreadable["result"] = str(exc)
    else:
        if outcome is not None:
            try:
                values["result"] = outcome_value(workflow_id, outcome)
            except WfError as exc:
                values["error"] = str(exc)
    try:
        values["data"] = engine.data(workflow_id)
    except WfError as exc:
        unreadable["data"] = str(exc)
    values["children"] = [child.workflow_id for child in engine.store.child_workflows(workflow_id)]
    if unreadable:
        values["unreadable"] = unreadable
    return values


class _NoQueue:
    """Without an App there is no queue: wake-ups are left to the workers."""

    def enqueue(self, ref: Any) -> None:
        """Nothing to send to: the invocation sees the change when it next wakes."""

    def wake(self, ref: Any, delay: float) -> None:
        raise ConfigurationError("this command does not run workflows")


def _no_tasks(name: str) -> Any:
    raise WorkflowNotFoundError(f"task {name!r} is not available to this command")
