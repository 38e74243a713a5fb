"""The scheduler workflow: one long-running ``schedule-<id>`` workflow per schedule.

It loops: wait for a control signal with a timeout that ends at the next fire time, then
start the target in a recorded step with an idempotency key derived from (schedule, fire
time). The workflow gives durability, recovery after a crash and pause/resume/delete on every
store; the derived key makes concurrent or repeated firers start one workflow per fire time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wfcore._current import current
from wfcore._tasks import TaskSpec
from wfcore.engine import Engine
from wfcore.schedules._timing import Schedule, fire_key

__all__ = ["BUFFER_POLL", "RUN_TURNS", "SCHEDULER_TASK", "SIGNAL", "fire", "scheduler_spec"]

SCHEDULER_TASK = "wfcore_schedule"
SIGNAL = "wfcore.schedule"  # control signals: {"op": "pause" | "resume" | "delete" | "trigger"}
LATE_GRACE = 60.0  # a fire this late is no "missed" one: wake-ups run a little late
BUFFER_POLL = 30.0  # seconds between looks at the previous workflow while a fire is buffered
RUN_TURNS = 200  # waits per run of the scheduler workflow before it continues as new


def fire(engine: Engine, schedule: Schedule, fire_at: float, previous: str | None) -> str | None:
    """Start the workflow of ``fire_at`` (idempotently); None when the overlap policy holds it
    back because ``previous`` still runs."""
    if previous is not None and schedule.overlap != "allow":
        record = engine.store.get_workflow(previous)
        if record is not None and not record.status.finished:
            return None
    spec = engine.task(schedule.task)
    key = fire_key(schedule.schedule_id, fire_at)
    record, _ = engine.start(spec, tuple(schedule.args), schedule.kwargs, idempotency_key=key)
    return record.workflow_id


def scheduler_spec(engine: Callable[[], Engine]) -> TaskSpec:
    """The task that runs schedules, bound to the engine of the worker that runs it."""

    def run_schedule(config: dict[str, Any], state: dict[str, Any] | None = None) -> str:
        return _loop(engine(), Schedule.from_config(config), state)

    return TaskSpec(SCHEDULER_TASK, run_schedule, False, None)


def _loop(engine: Engine, schedule: Schedule, state: dict[str, Any] | None) -> str:
    wf = current()
    # Schedules created before runs existed replay without this marker and never continue.
    continues = wf.patched("schedule-continue-as-new")
    if state is None:
        state = {"last": wf.utc_now().timestamp()}  # fire times after the schedule's creation
    last: float = state["last"]
    paused: bool = state.get("paused", False)
    previous: str | None = state.get("previous")  # the workflow the last fire started
    pending: float | None = state.get("pending")  # buffer_one: a fire time waiting for it
    shown: float | None = None
    turns = 0
    while True:
        turns += 1
        if continues and turns > RUN_TURNS:
            # A fresh history every RUN_TURNS waits, so a resume never replays months of fires.
            state = {"last": last, "paused": paused, "previous": previous, "pending": pending}
            wf.continue_as_new(schedule.config(), state)
        due = schedule.next_fire(last)
        if due != shown:
            wf.set_data("next_fire", due)  # shown by `wfcore schedules list`
            shown = due
        if paused:
            timeout: float | None = None
        else:
            timeout = max(0.0, due - wf.utc_now().timestamp())
            if pending is not None:
                timeout = min(timeout, BUFFER_POLL)
        command = wf.wait_signal(SIGNAL, timeout=timeout, default=None)
        now = wf.utc_now().timestamp()
        op = command.get("op") if isinstance(command, dict) else None
        if op == "delete":
            return "deleted"
        if op == "pause":
            paused = True
            wf.set_data("state", "paused")
        elif op == "resume" and paused:
            paused, last = False, now  # fire times missed while paused are skipped
            wf.set_data("state", "active")
        elif op == "trigger":
            previous = _fire(engine, schedule, now, None) or previous
        if command is not None or paused:
            continue
        if pending is not None:
            started = _fire(engine, schedule, pending, previous)
            if started is not None:
                previous, pending = started, None
        while due <= now:
            # Fire times missed longer ago than the window (workers were down) are skipped.
            if now - due <= max(schedule.catchup_window, LATE_GRACE):
                started = _fire(engine, schedule, due, previous)
                if started is not None:
                    previous = started
                elif schedule.overlap == "buffer_one" and pending is None:
                    pending = due
            last, due = due, schedule.next_fire(due)


def _fire(engine: Engine, schedule: Schedule, fire_at: float, previous: str | None) -> str | None:
    wf = current()
    key = fire_key(schedule.schedule_id, fire_at)
    try:
        return wf.deterministic(f"fire {key}", fire, engine, schedule, fire_at, previous)
    except Exception as exc:  # recorded (an undeclared task, other arguments...): the
        # schedule goes on to its next fire time rather than failing with this one
        wf.logger.error("schedule %r could not start %s: %s", schedule.schedule_id, key, exc)
        return None
