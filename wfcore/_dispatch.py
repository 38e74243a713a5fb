"""The dispatch port: how the engine asks a queue to run invocations (Dramatiq implements it)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from wfcore._models import InvocationRef

__all__ = ["Dispatcher"]


@runtime_checkable
class Dispatcher(Protocol):
    """Sends invocations to workers. Both methods may deliver more than once."""

    def enqueue(self, ref: InvocationRef) -> None:
        """Run (or resume) this invocation as soon as a worker is free."""
        ...

    def wake(self, ref: InvocationRef, delay: float) -> None:
        """Resume this invocation after ``delay`` seconds."""
        ...
