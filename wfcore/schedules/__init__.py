"""Durable schedules: start a task's workflow on a cron expression or every interval.

A schedule is a workflow (``schedule-<id>``) that sleeps until each fire time and starts the
target with an idempotency key derived from the schedule and the fire time, so any number of
workers may run it and each fire time starts exactly one workflow. See docs/operations.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict, Unpack

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
    "ScheduleOptions",
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


class ScheduleOptions(TypedDict, total=False):
    """The keyword arguments of ``app.schedule`` / ``runner.schedule`` (see docs/operations.md)."""

    cron: str | None  # five fields, UTC: "*/5 * * * *" (needs croniter)
    every: float | str | None  # seconds or "10m"
    args: tuple[Any, ...]
    kwargs: dict[str, Any] | None
    schedule_id: str | None  # default: the task's name
    overlap: str  # "skip" (default), "buffer_one" or "allow"
    catchup_window: float | str  # default "1h"


def create_schedule(
    engine: Engine,
    declare: Callable[[TaskSpec], TaskSpec],
    task: TaskSpec,
    **options: Unpack[ScheduleOptions],
) -> str:
    """Store a schedule (idempotently: the same call again returns it); its workflow id.

    ``declare`` registers the scheduler task on the caller's worker (an App's actor, a
    runner's task) if it is not yet, and returns it.

    Raises:
        ConfigurationError: a bad cron/every/overlap, or a schedule of this id already exists
            with another definition (delete it and use a new id).
    """
    sid = options.get("schedule_id") or task.name
    schedule = Schedule.build(
        sid,
        task.name,
        cron=options.get("cron"),
        every=options.get("every"),
        args=options.get("args", ()),
        kwargs=options.get("kwargs"),
        overlap=options.get("overlap", "skip"),
        catchup_window=options.get("catchup_window", "1h"),
    )
    scheduler = declare(scheduler_spec(lambda: engine))
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
        args, _ = engine.codec.decode(root.args)
        config = args[0]  # a continued run also carries the loop's state
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
