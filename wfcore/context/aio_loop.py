"""The deterministic event loop async workflow bodies run on.

Modelled on the idea of Temporal's Python SDK workflow loop (an ``AbstractEventLoop`` whose
``run_once`` drives ready callbacks in order and whose timers are workflow timers), much
smaller: ready callbacks run first in, first out; when none is left, the loop is *idle* and
asks its owner (the invocation's context, :mod:`.awaiting`) what to deliver next: recorded
outcomes of the ``wf`` waits the body's tasks are blocked on, or a suspension. There is no
selector: sockets, subprocesses, executors and threads are refused with a clear error, and
``loop.time()`` is a virtual clock that moves only when a durable timer fires, so the body's
decisions never depend on the wall clock or on I/O timing.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
from asyncio import events, futures
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, NoReturn, Protocol

from wfcore.context.wall_clock import dispatches_body, guard_enter, guard_exit
from wfcore.errors import ConfigurationError

__all__ = ["DeterministicLoop", "IdleHandler", "Wait", "new_loop", "refuse_waits"]


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

    def _refused(self, error: ConfigurationError) -> None:
        """The body called something a workflow body may not: fail the run with ``error``."""


_INSTEAD = (
    "Workflow bodies run on wfcore's deterministic event loop, so every replay schedules their "
    "tasks in the same order: do real I/O in `await wf.deterministic(name, async_fn, ...)` "
    "(recorded, run once on a real event loop) or in a child task (`await wf.execute_task(...)` "
    "of an async task without workflow=True, which runs on a real event loop)"
)

# Everything that would need a selector, a thread or a process.
_IO_METHODS = (
    "run_in_executor",
    "set_default_executor",
    "getaddrinfo",
    "getnameinfo",
    "create_connection",
    "create_server",
    "sendfile",
    "start_tls",
    "create_unix_connection",
    "create_unix_server",
    "connect_accepted_socket",
    "create_datagram_endpoint",
    "connect_read_pipe",
    "connect_write_pipe",
    "subprocess_shell",
    "subprocess_exec",
    "add_reader",
    "remove_reader",
    "add_writer",
    "remove_writer",
    "sock_recv",
    "sock_recv_into",
    "sock_recvfrom",
    "sock_recvfrom_into",
    "sock_sendall",
    "sock_sendto",
    "sock_connect",
    "sock_accept",
    "sock_sendfile",
    "add_signal_handler",
    "remove_signal_handler",
    "call_soon_threadsafe",
    "run_until_complete",
    "run_forever",
)


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
            try:
                self._close_tasks()
            finally:
                self._running = False
                self._closed = True
                events._set_running_loop(previous)

    def _drive(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """The body's code runs from here: a clock call that reaches this frame, walking up from
        its caller without passing through wfcore, came from the body (see ``wall_clock``)."""
        main = self.create_task(coro)
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
            coro = task.get_coro()
            # RuntimeError: it awaited again in a finally block; nothing more can run.
            with contextlib.suppress(RuntimeError):
                coro.close()
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
        self._refuse_with(f"{what} is not allowed. {_INSTEAD}")

    def _refuse_with(self, message: str) -> NoReturn:
        """Fail the run with ``message`` (recorded first: catching the error hides nothing)."""
        error = ConfigurationError(message)
        self._owner._refused(error)
        raise error


_new_handle = asyncio.Handle.__new__

# Cancels a future as a plain future: no subclass's ``cancel`` (a task's, gather's) runs.
_drop = asyncio.Future.cancel


def _refusal(name: str) -> Callable[..., NoReturn]:
    def refuse(self: DeterministicLoop, *args: Any, **kwargs: Any) -> NoReturn:
        what = "real I/O"
        if name == "call_soon_threadsafe":
            what = "threads"
        elif name.startswith("run_"):
            what = "a nested run of the loop"
        self._refuse(f"loop.{name}() ({what}) in a workflow body")

    refuse.__name__ = name
    return refuse


for _name in _IO_METHODS:
    setattr(DeterministicLoop, _name, _refusal(_name))

dispatches_body(DeterministicLoop._drive.__code__)


class _RefuseWaits:
    """Stands in for the loop in a plain async task (one on a real event loop): a ``wf`` wait
    there cannot suspend the task, so it is refused with what to do instead."""

    def __init__(self, task_name: str) -> None:
        self.task_name = task_name

    def __getattr__(self, name: str) -> Any:
        raise ConfigurationError(
            f"task {self.task_name!r} is a plain async task: it runs on a real event loop "
            "(for real I/O), where wf waits (execute_task, wait, sleep, wait_signal, "
            "deterministic) cannot be awaited. Declare it @app.task(workflow=True) (or "
            "force_new_workflow=True) to run it as a workflow body on wfcore's deterministic "
            "loop, and move its I/O into child tasks or wf.deterministic steps"
        )


def new_loop(owner: IdleHandler, timer: Callable[[float], Wait]) -> DeterministicLoop:
    """A deterministic loop for one run of an async workflow body."""
    return DeterministicLoop(owner, timer)  # type: ignore[abstract]  # refusals set below


def refuse_waits(task_name: str) -> Any:
    """The ``_aio`` of a plain async task's context: every wait is refused clearly."""
    return _RefuseWaits(task_name)
