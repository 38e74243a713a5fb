"""``Step``: a named action with an optional decision and executor, and how both are called
(with the ``log`` helper when their signature takes one)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from wfcore.errors import ConfigurationError
from wfcore.flow.logs import StepLogHelper
from wfcore.flow.results import Result

if TYPE_CHECKING:
    from wfcore.flow.executors import Executor
    from wfcore.flow.routing import Enqueue

__all__ = ["Step", "call_action", "call_decision"]


class Step:
    """One step: ``action(ctx, payload[, log])`` and ``decision(ctx, result, enqueue[, log])``.

    Args:
        name: the step's name, unique within a workflow; decisions enqueue steps by it.
        action: what the step does; its return value (or exception) becomes the ``Result``.
        decision: routes the run on: enqueues the next steps with ``enqueue.tail/head``.
        executor: runs this step's action (wins over the run's and the workflow's).
    """

    __slots__ = ("_action_log", "_decision_log", "action", "decision", "executor", "name")

    def __init__(
        self,
        name: str,
        action: Callable[..., Any],
        decision: Callable[..., Any] | None = None,
        executor: Executor | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"a Step needs a non-empty str name, got {name!r}")
        if not callable(action):
            raise ConfigurationError(f"step {name!r}: action must be callable, got {action!r}")
        if decision is not None and not callable(decision):
            raise ConfigurationError(
                f"step {name!r}: decision must be callable or None, got {decision!r}"
            )
        if executor is not None and not callable(getattr(executor, "execute", None)):
            raise ConfigurationError(
                f"step {name!r}: executor must have an execute(step, ctx, payload, log) method, "
                f"got {type(executor).__name__}"
            )
        self.name = name
        self.action = action
        self.decision = decision
        self.executor = executor
        # Decided once here, not on every call: does the callable take the log helper?
        self._action_log = _takes(action, 3)
        self._decision_log = decision is not None and _takes(decision, 4)

    def __repr__(self) -> str:
        return f"Step({self.name!r})"


def _takes(fn: Callable[..., Any], count: int) -> bool:
    """Whether ``fn`` accepts ``count`` positional arguments (the last one being ``log``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = 0
    for param in params:
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            return True
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            positional += 1
    return positional >= count


def call_action(step: Step, ctx: dict[str, Any], payload: Any, log: StepLogHelper) -> Result:
    """Run the step's action; what it raises becomes a failed ``Result`` (the run goes on)."""
    args = (ctx, payload, log) if step._action_log else (ctx, payload)
    try:
        value = step.action(*args)
    except Exception as exc:
        return Result.failure(exc, payload)
    return Result.success(value, payload)


def call_decision(
    step: Step, ctx: dict[str, Any], result: Result, enqueue: Enqueue, log: StepLogHelper
) -> None:
    """Run the step's decision, if it has one."""
    decision = step.decision
    if decision is None:
        return
    if step._decision_log:
        decision(ctx, result, enqueue, log)
    else:
        decision(ctx, result, enqueue)
