"""A bare engine for one task, with a dispatcher that only records what it was asked to send."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wfcore import Engine, InvocationRef, TaskSpec
from wfcore.store.memory import MemoryStore


class RecordingQueue:
    """A dispatcher that only remembers what it was asked to run; the test runs it."""

    def __init__(self) -> None:
        self.sent: list[InvocationRef] = []

    def enqueue(self, ref: InvocationRef) -> None:
        self.sent.append(ref)

    def wake(self, ref: InvocationRef, delay: float) -> None:
        self.sent.append(ref)


def single_task_engine(
    fn: Callable[..., Any], name: str = "flow"
) -> tuple[Engine, RecordingQueue, TaskSpec]:
    """An engine on a memory store whose only task is ``fn``, and its queue."""
    queue = RecordingQueue()
    spec = TaskSpec(name, fn)
    engine = Engine(store=MemoryStore(), dispatcher=queue, tasks=lambda _: spec)
    return engine, queue, spec
