"""The dispatch port: how the engine asks a queue to run invocations (Dramatiq implements it)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from wfcore._models import InvocationRef, QueuePush, QueueReceipt

__all__ = ["Dispatcher", "Outbox"]


@runtime_checkable
class Dispatcher(Protocol):
    """Sends invocations to workers. Both methods may deliver more than once."""

    def enqueue(self, ref: InvocationRef) -> None:
        """Run (or resume) this invocation as soon as a worker is free."""
        ...

    def wake(self, ref: InvocationRef, delay: float) -> None:
        """Resume this invocation after ``delay`` seconds."""
        ...


@runtime_checkable
class Outbox(Protocol):
    """Sends invocations inside the store's writes (``Batch.pushes``), instead of after them.

    An engine given one (with a store that ``writes_pushes``) puts the messages a write
    makes necessary (a new workflow's first, new children's, the parent wake-up a finish
    decides, a suspension's timer wake-up) into that write: one round trip less per
    message, and no moment where the state is stored but its message not yet sent.
    Messages a write did not carry go through the :class:`Dispatcher` as before.

    The write that ends a run (an applied suspension, the completion of a child that tells
    its parent in the same write, or of a root with no parent workflow) also acknowledges the
    delivery of the message that ran it, when the outbox names one (``receipt``): one more
    round trip less per message.
    """

    def prepare(self, ref: InvocationRef, delay: float | None = None) -> QueuePush:
        """The message that runs (or resumes) ``ref`` now, or after ``delay`` seconds (a
        timer's wake-up, as ``Dispatcher.wake`` sends it), ready for a write to carry."""
        ...

    def pushed(self, push: QueuePush) -> None:
        """A commit wrote ``push`` (after-send bookkeeping, e.g. broker hooks)."""
        ...

    def receipt(self, ref: InvocationRef) -> QueueReceipt | None:
        """The delivery of the message running ``ref`` in this thread, for the write that
        ends the run to acknowledge; None when there is none to acknowledge that way."""
        ...

    def acknowledged(self, receipt: QueueReceipt) -> None:
        """A commit acknowledged ``receipt``: the broker must not acknowledge it again."""
        ...
