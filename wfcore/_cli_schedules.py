"""The CLI's ``wfcore schedules list|pause|resume|delete|trigger [SCHEDULE_ID]``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from wfcore import _cli_render as render
from wfcore import schedules
from wfcore._models import WorkflowRecord
from wfcore.engine import Engine
from wfcore.errors import ConfigurationError

__all__ = ["add_command", "run"]

ACTIONS = ("list", "pause", "resume", "delete", "trigger")


def add_command(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """Declare ``schedules`` through the CLI's ``command(name, help)``."""
    parser = command("schedules", "list schedules (app.schedule); pause, resume, delete, trigger")
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("schedule_id", nargs="?", help="the schedule (all but list)")
    parser.add_argument(
        "--app",
        help="MODULE:ATTRIBUTE of the App, to wake the schedule at once (else the workers' "
        "recovery sweep wakes it)",
    )


def run(args: argparse.Namespace, engine: Engine) -> int:
    """Run one ``schedules`` action on ``engine``'s store."""
    if args.action == "list":
        found = schedules.list_schedules(engine)
        rows = [_row(engine, schedule, record) for schedule, record in found]
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            render.table(
                f"{len(rows)} schedule(s)",
                ["schedule id", "task", "when", "overlap", "state", "next fire (UTC)"],
                [[str(r[k] or "") for k in _COLUMNS] for r in rows],
            )
        return 0
    if not args.schedule_id:
        raise ConfigurationError(f"wfcore schedules {args.action} needs a SCHEDULE_ID")
    schedules.send_command(engine, args.schedule_id, args.action)
    render.message(
        f"{args.action} sent to schedule {args.schedule_id!r}",
        {"schedule_id": args.schedule_id, "action": args.action, "sent": True},
        as_json=args.json,
    )
    return 0


_COLUMNS = ("schedule_id", "task", "when", "overlap", "state", "next_fire")


def _row(engine: Engine, schedule: schedules.Schedule, record: WorkflowRecord) -> dict[str, Any]:
    when = f"cron {schedule.cron}" if schedule.cron else f"every {schedule.every:g}s"
    data = engine.data(record.workflow_id)
    next_fire = data.get("next_fire")
    state = "deleted" if record.status.finished else data.get("state", "active")
    return {
        "schedule_id": schedule.schedule_id,
        "task": schedule.task,
        "when": when,
        "overlap": schedule.overlap,
        "state": state,
        "next_fire": None
        if next_fire is None or state != "active"
        else datetime.fromtimestamp(next_fire, UTC).isoformat(timespec="seconds"),
        "workflow_id": record.workflow_id,
        "workflow_status": record.status.value,
    }
