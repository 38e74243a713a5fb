"""py_workflow-style workflows: steps with decision routing, executors, structured step logs.

Runs in this process (``InProcessExecutor``, the default) or durably on a
``wfcore_dramatiq.App`` (``Workflow(app=app)`` / ``DurableExecutor(app)``): the run is one
wfcore workflow, every action a recorded child, and a crash resumes at the exact queue
position. Importing this package does not import Dramatiq. See ``docs/styles/flow.md``.
"""

from __future__ import annotations

from wfcore.flow.decisions import decide_if, decide_to
from wfcore.flow.durable import DurableExecutor, FlowRun
from wfcore.flow.errors import (
    DecisionError,
    DuplicateStepError,
    FlowError,
    StepLimitError,
    UnknownStepError,
)
from wfcore.flow.executors import Executor, InProcessExecutor
from wfcore.flow.logs import BaseStepLogger, StepLogger, StepLogHelper, StructuredLogger
from wfcore.flow.results import Result, TraceEntry
from wfcore.flow.routing import Enqueue
from wfcore.flow.steps import Step
from wfcore.flow.workflow import Workflow

__all__ = [
    "BaseStepLogger",
    "DecisionError",
    "DuplicateStepError",
    "DurableExecutor",
    "Enqueue",
    "Executor",
    "FlowError",
    "FlowRun",
    "InProcessExecutor",
    "Result",
    "Step",
    "StepLimitError",
    "StepLogHelper",
    "StepLogger",
    "StructuredLogger",
    "TraceEntry",
    "UnknownStepError",
    "Workflow",
    "decide_if",
    "decide_to",
]
