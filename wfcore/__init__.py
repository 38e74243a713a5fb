"""wfcore: durable, deterministic-replay workflows; the engine-agnostic core."""

from __future__ import annotations

import logging as _logging

from wfcore import testing
from wfcore._codec import Codec, RemoteError
from wfcore._current import current, current_or_none
from wfcore._dispatch import Dispatcher
from wfcore._export import export_history, import_history
from wfcore._history import Entry, HistoryEvent, Outcome
from wfcore._local import LocalRunner
from wfcore._models import InvocationRef, WorkflowIdentity, WorkflowRecord, WorkflowStatus
from wfcore._replay import Divergence, Replayer, ReplayResult
from wfcore._tasks import Task, TaskResult, TaskSpec
from wfcore.context import WorkflowContext
from wfcore.context.async_view import AsyncWorkflowContext
from wfcore.context.children import TaskHandle
from wfcore.engine import Engine, RunResult, RunStatus
from wfcore.errors import (
    ConfigurationError,
    DecodeError,
    EncodeError,
    FatalError,
    NonDeterminismError,
    NotInWorkflowError,
    RepairError,
    RetryableError,
    SignalTimeoutError,
    StoreUnavailableError,
    TaskFailedError,
    WfError,
    WorkflowCancelled,
    WorkflowCancelledError,
    WorkflowFailedError,
    WorkflowNotFoundError,
    WorkflowNotRunningError,
)
from wfcore.pyworkflow.logs import configure_logging
from wfcore.pyworkflow.timers import sleep
from wfcore.store import StateStore, open_store

# A library adds no handlers of its own, only this one so Python's last-resort handler stays
# quiet; the host application decides where wfcore's records go.
_logging.getLogger("wfcore").addHandler(_logging.NullHandler())

__all__ = [
    "AsyncWorkflowContext",
    "Codec",
    "ConfigurationError",
    "DecodeError",
    "Divergence",
    "Dispatcher",
    "EncodeError",
    "Engine",
    "Entry",
    "FatalError",
    "HistoryEvent",
    "InvocationRef",
    "LocalRunner",
    "NonDeterminismError",
    "NotInWorkflowError",
    "Outcome",
    "RemoteError",
    "RepairError",
    "ReplayResult",
    "Replayer",
    "RetryableError",
    "RunResult",
    "RunStatus",
    "SignalTimeoutError",
    "StateStore",
    "StoreUnavailableError",
    "Task",
    "TaskFailedError",
    "TaskHandle",
    "TaskResult",
    "TaskSpec",
    "WfError",
    "WorkflowCancelled",
    "WorkflowCancelledError",
    "WorkflowContext",
    "WorkflowFailedError",
    "WorkflowIdentity",
    "WorkflowNotFoundError",
    "WorkflowNotRunningError",
    "WorkflowRecord",
    "WorkflowStatus",
    "configure_logging",
    "current",
    "current_or_none",
    "export_history",
    "import_history",
    "open_store",
    "sleep",
    "testing",
]
