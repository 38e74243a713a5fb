"""st-workflow style workflows, durable: scoped steps on a shared ``ctx``.

``from wfcore.steps import Workflow, Scope, ExecutionMode``. A ``Workflow`` runs as one wfcore
workflow (the ``wfcore.steps.run`` task) on an App's workers; each step is a recorded child
task, so a crash resumes at the step in progress and finished steps never run again. Importing
this package does not import Dramatiq (the default App is created on first use).
"""

from __future__ import annotations

from wfcore.errors import WorkflowCancelledError
from wfcore.steps.errors import StepFailedError, StepsError, StepTimeoutError, UnknownStepError
from wfcore.steps.model import ExecutionMode, Scope
from wfcore.steps.registry import default_app
from wfcore.steps.workflow import Workflow

__all__ = [
    "ExecutionMode",
    "Scope",
    "StepFailedError",
    "StepTimeoutError",
    "StepsError",
    "UnknownStepError",
    "Workflow",
    "WorkflowCancelledError",
    "default_app",
]
