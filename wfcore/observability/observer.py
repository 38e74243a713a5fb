"""``Observer``: what the engine tells metrics and tracing, at the edges of runs only.

The engine calls an observer once per run of an invocation (before and after it), when a
workflow ends and after a recovery sweep; never per workflow operation. An engine without
one (the default) pays one attribute test per run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wfcore._models import InvocationRef, WorkflowIdentity, WorkflowStatus
    from wfcore.context import WorkflowContext
    from wfcore.engine.run import RunResult

__all__ = ["Observer", "Observers", "replay_stats"]


class Observer:
    """Hooks the engine calls; every one a no-op here (override the ones you need).

    Hooks run on the engine's thread, inside the run: keep them quick, and do not raise
    (an exception from a hook fails the run like one from the task would).
    """

    def run_started(self, ctx: WorkflowContext, carried: Mapping[str, Any] | None) -> Any:
        """A run of ``ctx``'s invocation begins (its records loaded, its code about to run).

        ``carried`` is what the message that asked for this run carried for observers
        (the ``wfcore`` message option in the Dramatiq plugin), or None. The return value
        is handed back to :meth:`run_ended`.
        """
        return None

    def run_ended(self, token: Any, ctx: WorkflowContext, result: RunResult | None) -> None:
        """That run ended with ``result``; None when it lost a race to another writer (the
        engine replays it at once, which is another run) or raised out of the engine."""

    def workflow_ended(self, workflow: WorkflowIdentity, status: WorkflowStatus) -> None:
        """A workflow finished (its root invocation did): COMPLETED, FAILED or CANCELLED."""

    def recovered(self, refs: Sequence[InvocationRef]) -> None:
        """A recovery sweep re-enqueued ``refs`` (called only when there were some)."""


class Observers(Observer):
    """Several observers as one, called in order."""

    def __init__(self, observers: Sequence[Observer] = ()) -> None:
        self.observers: list[Observer] = list(observers)

    def run_started(self, ctx: WorkflowContext, carried: Mapping[str, Any] | None) -> Any:
        return [o.run_started(ctx, carried) for o in self.observers]

    def run_ended(self, token: Any, ctx: WorkflowContext, result: RunResult | None) -> None:
        for observer, own in zip(self.observers, token, strict=True):
            observer.run_ended(own, ctx, result)

    def workflow_ended(self, workflow: WorkflowIdentity, status: WorkflowStatus) -> None:
        for observer in self.observers:
            observer.workflow_ended(workflow, status)

    def recovered(self, refs: Sequence[InvocationRef]) -> None:
        for observer in self.observers:
            observer.recovered(refs)


def replay_stats(ctx: WorkflowContext) -> tuple[int, float | None]:
    """How many recorded operations the run of ``ctx`` had to replay, and when (a
    ``time.perf_counter()`` value) its code first went past them (None: not yet)."""
    return len(ctx._entries), ctx._caught_up
