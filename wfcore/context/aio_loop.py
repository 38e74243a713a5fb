"""The deterministic event loop async workflow bodies run on.

Modelled on the idea of Temporal's Python SDK workflow loop (an ``AbstractEventLoop`` whose
``run_once`` drives ready callbacks in order and whose timers are workflow timers), much
smaller: ready callbacks run first in, first out; when none is left, the loop is *idle* and
asks its owner (the invocation's context, :mod:`.awaiting`) what to deliver next: recorded
outcomes of the ``wf`` waits the body's tasks are blocked on, or a suspension (a wait that a
task awaits when nothing else could run first is decided on the spot: ``settle``). There is no
selector: sockets, subprocesses, executors and threads are refused with a clear error, and
``loop.time()`` is a virtual clock that moves only when a durable timer fires, so the body's
decisions never depend on the wall clock or on I/O timing.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
from asyncio import events, futures
from collections.abc import Callable, Coroutine, Generator, Sequence
from typing import Any, NoReturn, Protocol

from wfcore.context.aio_refusals import INSTEAD, IO_METHODS, refusal
from wfcore.context.wall_clock import dispatches_body, guard_enter, guard_exit
from wfcore.errors import ConfigurationError

__all__ = ["DeterministicLoop", "IdleHandler", "Wait", "new_loop"]


class Wait:
    """One ``wf`` wait a task of the body is blocked on: the seqs whose outcomes end it.

    Attributes:
        future: resolved with ``finish()`` when delivered (None for a timer handle).
        handle: a ``loop.call_later`` callback run when delivered (None for a future).
        seqs: the awaited positions, distinct and sorted.
        fire_at: the durable timer's fire time (epoch seconds), if the wait has one.
        counts: True when others record its outcomes (children, signals); False for timers,
            which only the run itself completes when they are due.
        finish: computes the future's value (or raises) once the outcomes are there.
        on_due: completes a due timer durably (called by a live run only).
        on_cancel: ends the wait when the workflow is cancelled (a signal wait closes).
    """

    __slots__ = ("counts", "finish", "fire_at", "future", "handle", "on_cancel", "on_due", "seqs")

    def __init__(
        self,
        seqs: Sequence[int],
        finish: Callable[[], Any],
        *,
        future: asyncio.Future[Any] | None = None,
        handle: asyncio.TimerHandle | None = None,
        fire_at: float | None = None,
        counts: bool = True,
        on_due: Callable[[], None] | None = None,
        on_cancel: Callable[[], None] | None = None,
    ) -> None:
        self.seqs = (seqs[0],) if len(seqs) == 1 else tuple(sorted(set(seqs)))
        self.finish = finish
        self.future = future
        self.handle = handle
        self.fire_at = fire_at
        self.counts = counts
        self.on_due = on_due
        self.on_cancel = on_cancel

    def active(self) -> bool:
        """Still awaited: its future is not done (nor cancelled), its handle not cancelled."""
        if self.future is not None:
            return not self.future.done()
        return self.handle is not None and not self.handle.cancelled()


class IdleHandler(Protocol):
    """What the loop asks when every task of the body waits (the invocation's context)."""

    _fatal: BaseException | None  # what stops the run (checked after every callback)

    def _idle_point(self, waits: list[Wait]) -> None:
        """Deliver some of ``waits`` (through the loop), deliver a cancellation, or raise."""

    def _delivers_now(self, wait: Wait) -> bool:
        """True if an idle point now, ``wait`` being the only one, would deliver it and record
        nothing (answered without side effects)."""

    def _deliver(self, loop: DeterministicLoop, ready: list[Wait]) -> None:
        """Deliver ``ready`` (through ``loop.deliver``)."""

    def _refused(self, error: ConfigurationError) -> None:
        """The body called something a workflow body may not: fail the run with ``error``."""


class DeterministicLoop(asyncio.AbstractEventLoop):
    """A single-threaded loop without I/O whose only clock is the workflow's timers."""

    def __init__(self, owner: IdleHandler, timer: Callable[[float], Wait] | None = None) -> None:
        self._owner = owner
        # Records a durable timer for a call_later(delay): its wait, without the handle.
        self._timer = timer
        self._ready: collections.deque[asyncio.Handle] = collections.deque()
        self._waits: list[Wait] = []
        self._now = 0.0  # virtual: advances to a timer's deadline when it fires
        self._running = False
        self._closed = False
        self._exceptions: list[dict[str, Any]] = []
        self._tasks: list[asyncio.Task[Any]] = []  # in creation order
        self._main: asyncio.Task[Any] | None = None  # the body's task, while _drive runs

    # -- driving -------------------------------------------------------------------------

    def run_body(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` until it finishes; the owner's ``_fatal`` is checked after every
        callback (a suspension, a conflict or a divergence it recorded stops the run)."""
        previous = events._get_running_loop()
        events._set_running_loop(self)
        self._running = True
        try:
            guard_enter(self)
            try:
                return self._drive(coro)
            finally:
                guard_exit()
        finally:
            self._main = None  # nothing is delivered on the spot from here on
            try:
                self._close_tasks()
            finally:
                self._running = False
                self._closed = True
                events._set_running_loop(previous)

    def _drive(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """The body's code runs from here: a clock call that reaches this frame, walking up from
        its caller without passing through wfcore, came from the body (see ``wall_clock``)."""
        main = self._main = self.create_task(coro)
        ready = self._ready
        owner = self._owner
        while True:
            while ready:
                handle: Any = ready.popleft()
                if not handle._cancelled:
                    # handle._run(), inlined: one Python call less per callback.
                    try:
                        handle._context.run(handle._callback, *handle._args)
                    except (SystemExit, KeyboardInterrupt):
                        raise
                    except BaseException as exc:
                        self.call_exception_handler(
                            {"message": "Exception in callback", "exception": exc, "handle": handle}
                        )
                if owner._fatal is not None:
                    # Not kept in a local: this frame, in its traceback, would hold it (a
                    # cycle keeping the whole run alive until the garbage collector runs).
                    raise owner._fatal
            if main.done():
                return main.result()
            waits = self._waits = [w for w in self._waits if w.active()]
            owner._idle_point(waits)
            if owner._fatal is not None:
                raise owner._fatal

    def _close_tasks(self) -> None:
        """Close the coroutines of tasks left waiting (the run suspended or failed): their
        ``finally`` blocks run now, in this thread, not later in the garbage collector."""
        # In creation order (a set's order is not reproducible): finally blocks that record
        # wf operations record them in the same order on every run.
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task._log_destroy_pending = False  # type: ignore[attr-defined]
            try:  # noqa: SIM105 (no context manager: two calls less per task, per run)
                task.get_coro().close()
            except RuntimeError:
                pass  # it awaited again in a finally block; nothing more can run
        # A task left waiting and what it waits on refer to each other (the task is a done
        # callback of the future; gather's future holds its children, each calling back to
        # it): cycles holding the loop, and through it the whole run, until the garbage
        # collector finds them. Marking them cancelled drops their callbacks (scheduled on
        # the ready queue, cleared below, never run), so reference counting frees the run.
        for task in tasks:
            waiter = task._fut_waiter  # type: ignore[attr-defined]
            if waiter is not None:
                _drop(waiter)
            _drop(task)
        for wait in self._waits:
            if wait.future is not None:
                _drop(wait.future)
        self._ready.clear()
        self._waits.clear()
        self._tasks.clear()

    # -- waits ---------------------------------------------------------------------------

    def check(self) -> None:
        """A wf wait may be awaited here (a plain async task's stand-in refuses)."""

    def add_wait(self, wait: Wait) -> None:
        """Register a ``wf`` wait, resolved when the owner delivers it at an idle point."""
        self._waits.append(wait)

    def wait_future(self) -> asyncio.Future[Any]:
        """A future for a ``wf`` wait (``Wait(future=...)``): awaited directly by a task, it
        is delivered on the spot when going idle would deliver it alone (see ``settle``)."""
        return _WaitFuture(loop=self)

    def settle(self, future: asyncio.Future[Any]) -> None:
        """``future``, a ``wf`` wait's, is awaited by the running task: if it is the only
        wait and the loop, going idle next, would deliver it, deliver it now. The task goes
        on without suspending: a replayed ``await wf.execute_task(...)`` costs no pass
        through the loop, and the run does and records the same as through the idle point.

        The same as suspending only when nothing else could run in between: no callback is
        ready, nothing else waits on the future, the task has no cancellation pending and
        the body's main task is still running."""
        main = self._main
        if self._ready or main is None or main.done() or future._callbacks is not None:
            return
        waits = self._waits
        if len(waits) != 1:
            waits = self._waits = [w for w in waits if w.active()]
            if len(waits) != 1:
                return
        wait = waits[0]
        if wait.future is not future:
            return
        task: Any = asyncio.current_task(self)
        if task is None or task._must_cancel:
            return
        owner = self._owner
        if owner._delivers_now(wait):
            self._waits = []
            owner._deliver(self, waits)

    def deliver(self, wait: Wait) -> None:
        """End ``wait``: resolve its future with ``finish()`` (or its exception), or schedule
        its timer callback and move the virtual clock to the timer's deadline."""
        if wait.handle is not None:
            self._now = max(self._now, wait.handle.when())
            wait.finish()
            self._ready.append(wait.handle)
            return
        assert wait.future is not None
        try:
            value = wait.finish()
        except Exception as exc:
            wait.future.set_exception(exc)
        else:
            wait.future.set_result(value)

    def fail(self, wait: Wait, error: BaseException) -> None:
        """End ``wait`` with ``error`` (a cancellation); a timer handle is dropped."""
        if wait.future is not None:
            wait.future.set_exception(error)
        elif wait.handle is not None:
            wait.handle.cancel()

    def resolved(self, value: Any) -> asyncio.Future[Any]:
        """A future that is already done with ``value``."""
        future = self.create_future()
        future.set_result(value)
        return future

    def failed(self, error: BaseException) -> asyncio.Future[Any]:
        """A future that is already done with ``error``."""
        future = self.create_future()
        future.set_exception(error)
        return future

    # -- the AbstractEventLoop surface ---------------------------------------------------

    def call_soon(  # type: ignore[override]
        self,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        # asyncio.Handle(callback, args, self, context) without its __init__ call.
        handle: Any = _new_handle(asyncio.Handle)
        handle._callback = callback
        handle._args = args
        handle._loop = self
        handle._context = contextvars.copy_context() if context is None else context
        handle._cancelled = False
        handle._repr = None
        handle._source_traceback = None
        self._ready.append(handle)
        return handle  # type: ignore[no-any-return]

    def call_later(  # type: ignore[override]
        self,
        delay: float,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        if callback is futures._set_result_unless_cancelled:  # type: ignore[attr-defined]
            self._refuse(
                f"asyncio.sleep({delay!r}) in a workflow body: a real sleep holds the worker and "
                "is not durable; use `await wf.sleep(...)` (a durable timer, no worker held)"
            )
        if self._timer is None:
            self._refuse("loop.call_later in a workflow body")
        delay = max(0.0, float(delay))
        wait = self._timer(delay)
        wait.handle = asyncio.TimerHandle(self._now + delay, callback, args, self, context)
        self.add_wait(wait)
        return wait.handle

    def call_at(  # type: ignore[override]
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        return self.call_later(when - self._now, callback, *args, context=context)

    def time(self) -> float:
        return self._now

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.Future(loop=self)

    def create_task(  # type: ignore[override]
        self,
        coro: Coroutine[Any, Any, Any],
        *,
        name: str | None = None,
        context: contextvars.Context | None = None,
    ) -> asyncio.Task[Any]:
        task = asyncio.Task(coro, loop=self, name=name, context=context)
        self._tasks.append(task)
        return task

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        pass  # the wait goes inactive; a suspension no longer waits for it

    def is_running(self) -> bool:
        return self._running

    def is_closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True

    def stop(self) -> None:
        self._refuse("loop.stop() in a workflow body")

    async def shutdown_asyncgens(self) -> None:
        return None

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        return None

    # Asked by every future, task and handle made on the loop: a builtin returning False
    # (``bool()``), not a method, saves a Python call each time.
    get_debug = staticmethod(bool)

    def set_debug(self, enabled: bool) -> None:
        return None

    def get_exception_handler(self) -> None:
        return None

    def set_exception_handler(self, handler: object) -> None:
        self._refuse("loop.set_exception_handler in a workflow body")

    def set_task_factory(self, factory: object) -> None:
        self._refuse("loop.set_task_factory in a workflow body")

    def get_task_factory(self) -> None:
        return None

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        self._exceptions.append(context)

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        # "Task exception was never retrieved" and the like: a finished run's leftovers.
        self._exceptions.append(context)

    def _refuse(self, what: str) -> NoReturn:
        self._refuse_with(f"{what} is not allowed. {INSTEAD}")

    def _refuse_with(self, message: str) -> NoReturn:
        """Fail the run with ``message`` (recorded first: catching the error hides nothing)."""
        error = ConfigurationError(message)
        self._owner._refused(error)
        raise error


_new_handle = asyncio.Handle.__new__


class _WaitFuture(asyncio.Future[Any]):
    """A ``wf`` wait's future: awaiting it first lets the loop deliver it on the spot
    (``DeterministicLoop.settle``); otherwise the task suspends on it as on any future."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, Any]:
        if not self.done():
            self._loop.settle(self)  # type: ignore[attr-defined]
            if not self.done():
                self._asyncio_future_blocking = True
                yield self
                if not self.done():
                    raise RuntimeError("await wasn't used with future")
        return self.result()

    __iter__ = __await__


# Cancels a future as a plain future: no subclass's ``cancel`` (a task's, gather's) runs.
_drop = asyncio.Future.cancel


for _name in IO_METHODS:
    setattr(DeterministicLoop, _name, refusal(_name))

dispatches_body(DeterministicLoop._drive.__code__)


def new_loop(owner: IdleHandler, timer: Callable[[float], Wait]) -> DeterministicLoop:
    """A deterministic loop for one run of an async workflow body."""
    return DeterministicLoop(owner, timer)  # type: ignore[abstract]  # refusals set below
