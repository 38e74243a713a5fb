"""What a context needs from its engine, and the control-flow signals it raises to it."""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from wfcore._codec import Codec
from wfcore._dispatch import Dispatcher, Outbox
from wfcore._tasks import TaskSpec, spec_of
from wfcore.context.real_loop import run_coroutine
from wfcore.store import StateStore

__all__ = ["Runtime", "_Conflict", "_ContinueAsNew", "_Suspend"]


class _Suspend(BaseException):
    """Raised inside user code to stop the invocation until ``seqs`` have outcomes (``need``
    of them, when not all are needed: an async body, see :mod:`.awaiting`)."""

    def __init__(
        self, seqs: Sequence[int], wake_at: float | None = None, need: int | None = None
    ) -> None:
        super().__init__(tuple(seqs))
        self.seqs = tuple(seqs)
        self.wake_at = wake_at
        self.need = need


class _ContinueAsNew(BaseException):
    """Raised by ``wf.continue_as_new``: end the run, continue the workflow with ``args``
    (the encoded ``[args, kwargs]`` of the next run)."""

    def __init__(self, args: bytes) -> None:
        super().__init__("continue_as_new")
        self.args_data = args


class _Conflict(BaseException):
    """Another writer recorded this invocation's next position first: abort and replay."""


@dataclass(frozen=True, slots=True)
class Runtime:
    """What a context needs from its engine. ``resolve`` turns what ``wf.start_task`` is
    given into a ``TaskSpec`` (an integration may accept its own objects, e.g. actors)."""

    store: StateStore
    codec: Codec
    dispatcher: Dispatcher
    clock: Callable[[], float] = time.time
    outbox: Outbox | None = None
    resolve: Callable[[object], TaskSpec] = spec_of
    # Runs a coroutine to completion on a real event loop (plain async tasks, async steps).
    run_coroutine: Callable[[Coroutine[Any, Any, Any]], Any] = run_coroutine
