"""The run loop both modes share: pop a step, run its action, its decision, log, repeat."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from wfcore.errors import WfError
from wfcore.flow.errors import DecisionError, StepLimitError
from wfcore.flow.logs import StepLogger, StepLogHelper
from wfcore.flow.results import Result, TraceEntry
from wfcore.flow.routing import Enqueue, RoutingQueue, unknown_step
from wfcore.flow.steps import Step, call_decision

__all__ = ["AfterStep", "Execute", "drive"]

Execute = Callable[[Step, dict[str, Any], Any, StepLogHelper], Result]
"""Runs one step's action: the executor chosen for it, inline or as a recorded child."""

AfterStep = Callable[[list[TraceEntry], RoutingQueue], None]
"""Called after each step with the trace so far and the queue (durable runs record them)."""


def drive(
    steps: Mapping[str, Step],
    *,
    max_steps: int,
    start: str,
    payload: Any,
    ctx: dict[str, Any],
    logger: StepLogger | None,
    execute: Execute,
    after_step: AfterStep | None = None,
) -> list[TraceEntry]:
    """Run from ``start`` until the queue is empty; the trace of every executed step.

    For each step: the action (through ``execute``), then the decision (which may enqueue
    more), then the step's log line. An action's error does not stop the run: it is the
    ``Result`` the decision sees. A decision's error does (``DecisionError``).

    Raises:
        UnknownStepError: ``start`` or an enqueued name is not a step of the workflow.
        StepLimitError: ``max_steps`` steps ran and more are queued.
        DecisionError: a decision raised.
    """
    if start not in steps:
        raise unknown_step(start, steps, "run(start=...)")
    queue = RoutingQueue(steps)
    queue.push(start, payload, where="run(start=...)")
    trace: list[TraceEntry] = []
    while queue:
        if len(trace) >= max_steps:
            raise StepLimitError(
                f"the run executed max_steps={max_steps} steps and {len(queue)} more are queued "
                f"(next: {queue.names()[0]!r}); a decision probably routes in a loop: stop "
                "enqueueing, or raise Workflow(max_steps=...) if the run is that long"
            )
        name, item = queue.pop()
        step = steps[name]
        log = StepLogHelper(logger, name)
        result = execute(step, ctx, item, log)
        try:
            call_decision(step, ctx, result, Enqueue(queue, name), log)
        except WfError:
            raise  # the flow's own errors, and the engine's (non-determinism) stay as they are
        except Exception as exc:
            raise DecisionError(
                f"the decision of step {name!r} raised {type(exc).__name__}: {exc}; decisions "
                "route the run and must not fail (handle the failed Result instead)"
            ) from exc
        if logger is not None:
            logger.log(name, item, result)
        trace.append(TraceEntry(name, item, result))
        if after_step is not None:
            after_step(trace, queue)
    return trace
