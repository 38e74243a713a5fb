"""Ready-made decisions: ``decide_to`` (always go on to a step) and ``decide_if`` (branch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wfcore.errors import ConfigurationError
from wfcore.flow.results import Result
from wfcore.flow.routing import Enqueue

__all__ = ["decide_if", "decide_to"]

Decision = Callable[[dict[str, Any], Result, Enqueue], None]


def _check_name(helper: str, name: object, *, optional: bool = False) -> None:
    if (optional and name is None) or (isinstance(name, str) and name):
        return
    raise ConfigurationError(f"{helper} takes step names (str), got {name!r}")


def decide_to(step: str, *, on_error: str | None = None) -> Decision:
    """A decision that enqueues ``step`` with the action's value when the action returned,
    and ``on_error`` (if given) with the step's own payload when it raised (a retry).

    Example: ``Step("load", load, decision=decide_to("process"))``.
    """
    _check_name("decide_to", step)
    _check_name("decide_to(on_error=...)", on_error, optional=True)

    def decision(ctx: dict[str, Any], result: Result, enqueue: Enqueue) -> None:
        if result:
            enqueue.tail(step, result.value)
        elif on_error is not None:
            enqueue.tail(on_error, result.payload)

    decision.__qualname__ = f"decide_to({step!r})"
    return decision


def decide_if(
    predicate: Callable[[Result], bool], then: str | None, otherwise: str | None = None
) -> Decision:
    """A decision that enqueues ``then`` when ``predicate(result)`` is true, else ``otherwise``
    (None: nothing), with the action's value as the payload.

    Example: ``decide_if(lambda r: r.ok and r.value > 100, "review", "approve")``.
    """
    if not callable(predicate):
        raise ConfigurationError(f"decide_if needs a callable predicate, got {predicate!r}")
    _check_name("decide_if", then, optional=True)
    _check_name("decide_if", otherwise, optional=True)

    def decision(ctx: dict[str, Any], result: Result, enqueue: Enqueue) -> None:
        target = then if predicate(result) else otherwise
        if target is not None:
            enqueue.tail(target, result.value)

    decision.__qualname__ = f"decide_if({then!r}, {otherwise!r})"
    return decision
