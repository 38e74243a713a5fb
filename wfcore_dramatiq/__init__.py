"""wfcore_dramatiq: durable workflows as Dramatiq actors (``App``, ``@app.task``)."""

from __future__ import annotations

from wfcore_dramatiq._app import App, DramatiqTask, PermanentFailure
from wfcore_dramatiq._dispatch import DramatiqDispatcher
from wfcore_dramatiq._handle import WorkflowHandle
from wfcore_dramatiq._middleware import WorkflowMiddleware

__all__ = [
    "App",
    "DramatiqDispatcher",
    "DramatiqTask",
    "PermanentFailure",
    "WorkflowHandle",
    "WorkflowMiddleware",
]
