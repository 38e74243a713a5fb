"""Executors run actions: the ``Executor`` protocol and the inline ``InProcessExecutor``."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from wfcore.flow.logs import StepLogHelper
from wfcore.flow.results import Result
from wfcore.flow.steps import Step, call_action

__all__ = ["Executor", "InProcessExecutor"]


@runtime_checkable
class Executor(Protocol):
    """Runs one step's action and returns its ``Result`` (never raises for the action's own
    errors). Executors run actions only; the workflow drives decisions, the queue and logs."""

    def execute(self, step: Step, ctx: dict[str, Any], payload: Any, log: StepLogHelper) -> Result:
        """Run ``step.action`` with ``ctx`` and ``payload`` (and ``log`` if it takes one)."""
        ...


class InProcessExecutor:
    """Runs actions inline, in the calling thread (the default).

    In a durable run it runs the action inside the driving workflow as a checkpointed step
    (``wf.deterministic``): recorded once, never run again on replay.
    """

    def execute(self, step: Step, ctx: dict[str, Any], payload: Any, log: StepLogHelper) -> Result:
        """Call the action; its exception becomes a failed ``Result``."""
        return call_action(step, ctx, payload, log)

    def __repr__(self) -> str:
        return "InProcessExecutor()"
