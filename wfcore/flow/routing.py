"""The routing queue of a run and the ``enqueue`` object decisions receive."""

from __future__ import annotations

from collections import deque
from collections.abc import Collection
from typing import Any

from wfcore.flow.errors import UnknownStepError

__all__ = ["Enqueue", "RoutingQueue", "unknown_step"]


def unknown_step(name: object, known: Collection[str], where: str) -> UnknownStepError:
    """The error for a step name the workflow does not have."""
    names = ", ".join(repr(n) for n in sorted(known)) or "none"
    return UnknownStepError(
        f"{where}: no step named {name!r} in this workflow (its steps: {names}); "
        "add it with Workflow.add(Step(...)) or fix the name"
    )


class RoutingQueue:
    """The steps still to run, each with its payload, first in first out."""

    __slots__ = ("_items", "known")

    def __init__(self, known: Collection[str]) -> None:
        self.known = known
        self._items: deque[tuple[str, Any]] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def pop(self) -> tuple[str, Any]:
        """The next step to run and its payload."""
        return self._items.popleft()

    def names(self) -> list[str]:
        """The queued step names, in the order they will run."""
        return [name for name, _ in self._items]

    def push(self, name: str, payload: Any, *, at: int | None = None, where: str) -> None:
        """Queue ``name`` at the end, or at index ``at``; an unknown name is refused here."""
        if name not in self.known:
            raise unknown_step(name, self.known, where)
        if at is None:
            self._items.append((name, payload))
        else:
            self._items.insert(at, (name, payload))


class Enqueue:
    """What a decision uses to route: ``tail(step, payload)`` runs ``step`` after everything
    queued; ``head(step, payload)`` runs it next. Several ``head`` calls of one decision keep
    their order (the first one runs first)."""

    __slots__ = ("_heads", "_queue", "_where")

    def __init__(self, queue: RoutingQueue, step_name: str) -> None:
        self._queue = queue
        self._heads = 0
        self._where = f"the decision of step {step_name!r}"

    def tail(self, step: str, payload: Any = None) -> None:
        """Run ``step`` with ``payload`` after every step queued so far."""
        self._queue.push(step, payload, where=self._where)

    def head(self, step: str, payload: Any = None) -> None:
        """Run ``step`` with ``payload`` next (after this decision's earlier ``head`` calls)."""
        self._queue.push(step, payload, at=self._heads, where=self._where)
        self._heads += 1
