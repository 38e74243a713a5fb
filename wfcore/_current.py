"""The invocation running now: one ContextVar, set by the engine around user code."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

from wfcore.errors import NotInWorkflowError

if TYPE_CHECKING:
    from wfcore.context import WorkflowContext

__all__ = ["current", "current_or_none"]

_current: ContextVar[WorkflowContext | None] = ContextVar("wfcore_current", default=None)


def current() -> WorkflowContext:
    """The context of the invocation running in this thread or task.

    Raises:
        NotInWorkflowError: no workflow invocation is running here.
    """
    ctx = _current.get()
    if ctx is None:
        raise NotInWorkflowError(
            "no workflow invocation is running here: `task.wf` and wfcore.current() work only "
            "inside a task that wfcore runs (started with task.send(...) or wf.execute_task); "
            "call them from the task's body, not at import time or from another thread"
        )
    return ctx


def current_or_none() -> WorkflowContext | None:
    """The running invocation's context, or None outside one."""
    return _current.get()
