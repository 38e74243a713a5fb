"""Durable schedules: start a task's workflow on a cron expression or every interval.

A schedule is a workflow (``schedule-<id>``) that sleeps until each fire time and starts the
target with an idempotency key derived from the schedule and the fire time, so any number of
workers may run it and each fire time starts exactly one workflow. See docs/operations.md.
"""

from __future__ import annotations

from typing import Any

from wfcore._models import WorkflowRecord
from wfcore._tasks import TaskSpec
from wfcore.engine import Engine
from wfcore.errors import ConfigurationError
from wfcore.schedules._timing import OVERLAPS, Schedule, fire_key
from wfcore.schedules._workflow import SCHEDULER_TASK, SIGNAL, fire, scheduler_spec

__all__ = [
    "OVERLAPS",
    "SCHEDULER_TASK",
    "SIGNAL",
    "Schedule",
    "create_schedule",
    "fire",
    "fire_key",
    "list_schedules",
    "schedule_workflow_id",
    "scheduler_spec",
    "send_command",
]

COMMANDS = ("pause", "resume", "delete", "trigger")


def schedule_workflow_id(schedule_id: str) -> str:
    """The id of the workflow that runs schedule ``schedule_id``."""
    return f"schedule-{schedule_id}"


def create_schedule(
    engine: Engine,
    scheduler: TaskSpec,
    task: TaskSpec,
    *,
    cron: str | None = None,
    every: object = None,
    args: tuple[Any, ...] | list[Any] = (),
    kwargs: dict[str, Any] | None = None,
    schedule_id: str | None = None,
    overlap: str = "skip",
    catchup_window: object = "1h",
) -> str:
    """Store a schedule (idempotently: the same call again returns it); its workflow id.

    Raises:
        ConfigurationError: a bad cron/every/overlap, or a schedule of this id already exists
            with another definition (delete it and use a new id).
    """
    sid = schedule_id or task.name
    schedule = Schedule.build(
        sid,
        task.name,
        cron=cron,
        every=every,
        args=args,
        kwargs=kwargs,
        overlap=overlap,
        catchup_window=catchup_window,
    )
    record, _ = engine.start(scheduler, (schedule.config(),), workflow_id=schedule_workflow_id(sid))
    return record.workflow_id


def list_schedules(engine: Engine, *, limit: int = 1000) -> list[tuple[Schedule, WorkflowRecord]]:
    """Every stored schedule (newest first) with its workflow, whose status says whether it
    still runs (deleted schedules are COMPLETED)."""
    found = []
    for record in engine.store.list_workflows(workflow_type=SCHEDULER_TASK, limit=limit):
        root = engine.store.get_invocation(record.workflow_id, record.root_invocation_id)
        if root is None:
            continue
        (config,), _ = engine.codec.decode(root.args)
        found.append((Schedule.from_config(config), record))
    return found


def send_command(engine: Engine, schedule_id: str, command: str) -> None:
    """Send ``pause``, ``resume``, ``delete`` or ``trigger`` to a schedule.

    Raises:
        ConfigurationError: an unknown command.
        WorkflowNotFoundError / WorkflowNotRunningError: no such schedule, or it was deleted.
    """
    if command not in COMMANDS:
        raise ConfigurationError(
            f"unknown schedule command {command!r}; use one of {', '.join(COMMANDS)}"
        )
    engine.signal(schedule_workflow_id(schedule_id), SIGNAL, {"op": command})
