"""Errors of ``wfcore.flow``: a bad step graph, a runaway route, a failing decision."""

from __future__ import annotations

from wfcore.errors import ConfigurationError, WfError

__all__ = [
    "DecisionError",
    "DuplicateStepError",
    "FlowError",
    "StepLimitError",
    "UnknownStepError",
]


class FlowError(WfError):
    """Base class of the errors a ``wfcore.flow`` workflow raises."""


class UnknownStepError(FlowError, ConfigurationError):
    """A run starts at, or a decision enqueues, a step the workflow does not have."""


class DuplicateStepError(FlowError, ConfigurationError):
    """Two steps of one workflow have the same name."""


class StepLimitError(FlowError):
    """A run executed ``max_steps`` steps and its queue is still not empty."""


class DecisionError(FlowError):
    """A decision raised; the run stops (decisions are routing code, not business steps)."""


FLOW_ERRORS: dict[str, type[FlowError]] = {
    f"{cls.__module__}.{cls.__qualname__}": cls
    for cls in (DecisionError, DuplicateStepError, FlowError, StepLimitError, UnknownStepError)
}
"""The flow errors by qualified name: a durable run that failed with one raises it again in
the client (a fixed table, so a name read from storage never reaches an import)."""
