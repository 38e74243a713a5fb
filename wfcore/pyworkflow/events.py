"""PyWorkflow's event types over wfcore's history, and log events recorded in it.

wfcore records every run as a history (``handle.history()``: lifecycle events of each
invocation and the operations it recorded). PyWorkflow's 16 event types are views of it:

============================  ================================================================
PyWorkflow event              wfcore history event
============================  ================================================================
``workflow_started``          ``workflow_started`` (the run's root invocation)
``workflow_completed``        ``workflow_completed``
``workflow_failed``           ``workflow_failed``
``workflow_suspended``        ``workflow_suspended`` (waiting on steps or a sleep)
``workflow_resumed``          ``workflow_resumed``
``step_started``              ``task_started`` of a step's invocation (a child of the root)
``step_completed``            ``task_completed`` of a step's invocation
``step_failed``               ``task_failed`` of a step's invocation (retries exhausted)
``step_retrying``             ``task_retrying`` of a step's invocation
``sleep_created``             ``sleep`` recorded by the root (value: the fire time)
``sleep_completed``           ``sleep_fired`` (when the timer fired)
``log_debug`` ... ``log_error``  ``set_data`` of key ``pyworkflow.log`` (see :data:`log`)
============================  ================================================================

``workflow_cancelled`` (wfcore's cancellation, which PyWorkflow does not have) is kept too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from wfcore._current import current
from wfcore._history import HistoryEvent
from wfcore.pyworkflow.definitions import step_name_of

__all__ = ["LOG_KEY", "Event", "EventLog", "EventType", "events", "log"]

LOG_KEY = "pyworkflow.log"
"""The workflow data key whose writes are the run's log events."""


class EventType(StrEnum):
    """PyWorkflow's event types (and wfcore's ``workflow_cancelled``)."""

    WORKFLOW_STARTED = "workflow_started"
    WORKFLOW_COMPLETED = "workflow_completed"
    WORKFLOW_FAILED = "workflow_failed"
    WORKFLOW_SUSPENDED = "workflow_suspended"
    WORKFLOW_RESUMED = "workflow_resumed"
    WORKFLOW_CANCELLED = "workflow_cancelled"
    STEP_STARTED = "step_started"
    STEP_COMPLETED = "step_completed"
    STEP_FAILED = "step_failed"
    STEP_RETRYING = "step_retrying"
    SLEEP_CREATED = "sleep_created"
    SLEEP_COMPLETED = "sleep_completed"
    LOG_DEBUG = "log_debug"
    LOG_INFO = "log_info"
    LOG_WARNING = "log_warning"
    LOG_ERROR = "log_error"


@dataclass(frozen=True, slots=True)
class Event:
    """One PyWorkflow event of a run.

    Attributes:
        type: the event type.
        timestamp: when it happened (epoch seconds).
        step_id: the step's invocation id (step and log events of a step), else None.
        step_name: the step's name, else None.
        data: the history event's value: fire time, error text, log message, result...
        source: the wfcore history event it is a view of.
    """

    type: EventType
    timestamp: float
    step_id: str | None
    step_name: str | None
    data: Any
    source: HistoryEvent


_ROOT = {t.value: t for t in EventType if t.value.startswith("workflow_")}
_STEP = {
    "task_started": EventType.STEP_STARTED,
    "task_completed": EventType.STEP_COMPLETED,
    "task_failed": EventType.STEP_FAILED,
    "task_retrying": EventType.STEP_RETRYING,
}
_SLEEP = {"sleep": EventType.SLEEP_CREATED, "sleep_fired": EventType.SLEEP_COMPLETED}
_LOG_TYPES = {
    "debug": EventType.LOG_DEBUG,
    "info": EventType.LOG_INFO,
    "warning": EventType.LOG_WARNING,
    "error": EventType.LOG_ERROR,
}


def events(history: list[HistoryEvent]) -> list[Event]:
    """The PyWorkflow events of a run's history (``handle.history()``), in time order."""
    roots = {e.invocation_id for e in history if e.kind == "workflow_started"}
    out: list[Event] = []
    for e in history:
        is_root = e.invocation_id in roots
        step_id, step_name = (None, None) if is_root else (e.invocation_id, e.task_name)
        step_name = None if step_name is None else step_name_of(step_name)
        kind: EventType | None = None
        if is_root and e.kind in _ROOT:
            kind = _ROOT[e.kind]
        elif not is_root and e.kind in _STEP:
            kind = _STEP[e.kind]
        elif is_root and e.kind in _SLEEP:
            kind = _SLEEP[e.kind]
        elif e.kind == "set_data" and e.name == LOG_KEY and isinstance(e.value, dict):
            kind = _LOG_TYPES.get(str(e.value.get("level")))
        if kind is not None:
            out.append(Event(kind, e.timestamp, step_id, step_name, e.value, e))
    return out


class EventLog:
    """Log lines that are also events of the run (``log_info``, ...): ``log.info("...")``.

    In a workflow body or a step, each call records the line in the run's history (a write
    of workflow data ``pyworkflow.log``, so it replays like any operation: a replay does not
    log it again) and logs it through the invocation's replay-aware ``wf.logger``.
    """

    def debug(self, message: str) -> None:
        """Record and log ``message`` at DEBUG."""
        self._emit(logging.DEBUG, "debug", message)

    def info(self, message: str) -> None:
        """Record and log ``message`` at INFO."""
        self._emit(logging.INFO, "info", message)

    def warning(self, message: str) -> None:
        """Record and log ``message`` at WARNING."""
        self._emit(logging.WARNING, "warning", message)

    def error(self, message: str) -> None:
        """Record and log ``message`` at ERROR."""
        self._emit(logging.ERROR, "error", message)

    def _emit(self, level: int, name: str, message: str) -> None:
        wf = current()
        wf.set_data(LOG_KEY, {"level": name, "message": str(message)})
        wf.logger.log(level, "%s", message)


log = EventLog()
"""Log events of the running workflow or step (raises ``NotInWorkflowError`` elsewhere)."""
