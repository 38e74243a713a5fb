"""Errors of ``wfcore.steps``: a failed run, a step past its timeout, a step a worker lacks."""

from __future__ import annotations

from typing import Any

from wfcore.errors import ConfigurationError, WfError

__all__ = ["StepFailedError", "StepTimeoutError", "StepsError", "UnknownStepError"]


class StepsError(WfError):
    """Base class of the errors ``wfcore.steps`` raises."""


class StepFailedError(StepsError):
    """A run ended with a failed step, after its ERROR and EXIT steps ran.

    ``step``, ``error_type`` and ``error_message`` name the first failure (a NORMAL step's
    when there is one); ``failures`` lists every failed step as
    ``{"step", "scope", "type", "error"}`` dicts; ``ctx`` is the run's final context (set by
    ``Workflow.run``; the workflow's own raise carries none).
    """

    def __init__(
        self,
        message: str,
        *,
        step: str = "",
        error_type: str = "",
        error_message: str = "",
        failures: list[dict[str, Any]] | None = None,
        ctx: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.step = step
        self.error_type = error_type
        self.error_message = error_message
        self.failures = [] if failures is None else failures
        self.ctx = ctx


class StepTimeoutError(StepsError, TimeoutError):
    """A step ran longer than its ``timeout``; counts as a failed attempt of the step."""


class UnknownStepError(StepsError, ConfigurationError):
    """A step function is not registered on the App (the worker did not build the Workflow),
    or another function already has its registered name."""
