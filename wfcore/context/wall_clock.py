"""The wall clock is refused in async workflow bodies: ``time.time()``, ``datetime.now()``, ...

A body is replayed from the top on every resume, so a value read from the wall clock differs
from one run to the next and the body may take another path. ``wf.utc_now()`` (recorded) and
durable timers (``wf.sleep``, ``asyncio.timeout`` on the virtual ``loop.time()``) are what a
body uses instead. This module makes a direct call fail clearly, as ``asyncio.sleep`` does.

Temporal's Python SDK re-imports workflow modules in a sandbox whose ``time`` and ``datetime``
are restricted proxies. This is much smaller, and has two parts:

- **``time``**: while at least one body runs in the process, the ``time`` module's clock
  functions (``time``, ``time_ns``, ``monotonic``, ``perf_counter``, their ``_ns`` forms, and
  ``sleep``) are guarded stand-ins; the originals are put back when the last body run ends
  (unless someone replaced them meanwhile). A stand-in costs one dictionary test when the
  calling thread runs no body. In a thread that runs a body's code it checks *who* calls:
  the standard library, wfcore itself and the infrastructure it calls (Dramatiq, the store
  clients) pass (a log record's timestamp, a store's ``updated_at``, a real event loop in a
  ``wf.deterministic`` step); so does anything called by wfcore on the body's behalf (the
  function of a ``wf.deterministic`` step). Anything else, called from the body, is refused.
- **``datetime``**: ``datetime.datetime`` and ``datetime.date`` are C types whose methods
  cannot be replaced, and replacing the classes process-wide would change them for everyone.
  So, as Temporal restricts what the workflow's module sees, the first run of a body rebinds
  the names of **the body's own module** that are ``datetime.datetime``, ``datetime.date``,
  the ``datetime`` module or one of the clock functions above to guarded stand-ins: the
  classes' stand-ins are subclasses whose ``now``, ``utcnow`` and ``today`` are guarded, whose
  constructors return real ``datetime``/``date`` objects, and for which ``isinstance``,
  ``issubclass`` and ``==`` answer as for the real class. Other modules (helpers the body
  calls) are not rebound: their ``datetime.now()`` is not refused (``time.time()`` is).
"""

from __future__ import annotations

import datetime as _dt
import gc
import sys
import threading
import time as _time
import types
from collections.abc import Callable, MutableMapping
from sys import _getframe
from threading import get_ident
from typing import Any, NoReturn, Protocol

__all__ = ["dispatches_body", "guard_enter", "guard_exit", "guard_module"]


class _Refuser(Protocol):
    def _refuse_with(self, what: str) -> NoReturn: ...


_WHY = "its value changes on every replay, so the body would not take the same path"
_INSTEAD = (
    "`wf.utc_now()` for the current time (recorded: every replay sees the same value), "
    "durable timers to wait (`await wf.sleep(...)`, `asyncio.timeout(...)`: the loop's clock "
    "is virtual), or read it inside `await wf.deterministic(name, fn)` (recorded, run once)"
)
_REASONS = {
    "sleep": (
        "a real sleep holds the worker and is not durable",
        "`await wf.sleep(...)` (a durable timer: no worker held, nothing lost on a crash)",
    ),
}

# Callers that pass: wfcore, the standard library and what wfcore's stores and broker use.
_PASSTHROUGH = frozenset(sys.stdlib_module_names) | {
    "wfcore",
    "wfcore_dramatiq",
    "dramatiq",
    "redis",
    "pika",
    "msgpack",
    "psycopg",
    "opentelemetry",
    "prometheus_client",
}
_WFCORE = ("wfcore", "wfcore_dramatiq")

_inside: dict[int, list[_Refuser]] = {}  # thread id -> the loops running a body there
_lock = threading.Lock()
_running = 0  # body runs in the process: the time module is guarded while > 0
_dispatch_codes: set[types.CodeType] = set()  # the loops' frames that run the body's code
_passing: set[types.CodeType] = set()  # callers seen to be in a passthrough module


def dispatches_body(code: types.CodeType) -> None:
    """Declare ``code`` as a loop's frame that runs a body's code (see ``_check``)."""
    _dispatch_codes.add(code)


def _top(frame: types.FrameType) -> str:
    name = frame.f_globals.get("__name__")
    return name.partition(".")[0] if isinstance(name, str) else ""


def _check(what: str, name: str, loops: list[_Refuser], depth: int = 2) -> None:
    """Refuse ``what`` if the body's own code (or a library outside the passthrough) called
    it; the caller is ``depth`` frames up (this function, the stand-in, ...)."""
    if _collecting == get_ident():
        return  # a garbage collection's callbacks and finalizers: not the body (see below)
    frame: types.FrameType | None = _getframe(depth)
    if frame is None:
        return
    if _top(frame) in _PASSTHROUGH:
        _passing.add(frame.f_code)  # the stand-ins skip this check for it from now on
        return
    frame = frame.f_back
    while frame is not None:
        if frame.f_code in _dispatch_codes:
            break  # reached the loop without passing through wfcore: the body called it
        if _top(frame) in _WFCORE:
            return  # wfcore called it on the body's behalf (a wf.deterministic step)
        frame = frame.f_back
    else:
        return
    why, instead = _REASONS.get(name, (_WHY, _INSTEAD))
    loops[-1]._refuse_with(f"{what} in a workflow body is not allowed: {why}. Use {instead}")


def _guarded(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    what = f"time.{name}()"

    def guarded(*args: Any) -> Any:
        if _inside:  # some thread runs a body: is it this one, and did the body call?
            loops = _inside.get(get_ident())
            if loops and _getframe(1).f_code not in _passing:
                _check(what, name, loops)
        return original(*args)

    guarded.__name__ = guarded.__qualname__ = name
    guarded.__doc__ = original.__doc__
    guarded.__wrapped__ = original  # type: ignore[attr-defined]
    return guarded


def _check_here(what: str, name: str) -> None:
    """``_check`` for a datetime stand-in's method (called by it: the caller is one more up)."""
    loops = _inside.get(get_ident())
    if loops and _getframe(2).f_code not in _passing:
        _check(what, name, loops, 3)


_TIME_NAMES = (
    "time",
    "time_ns",
    "monotonic",
    "monotonic_ns",
    "perf_counter",
    "perf_counter_ns",
    "sleep",
)
_ORIGINALS: dict[str, Callable[..., Any]] = {n: getattr(_time, n) for n in _TIME_NAMES}
_GUARDS: dict[str, Callable[..., Any]] = {n: _guarded(n, f) for n, f in _ORIGINALS.items()}
_SWAPS = tuple((n, _ORIGINALS[n], _GUARDS[n]) for n in _TIME_NAMES)
_TIME_DICT = vars(_time)


# A garbage collection can start at any allocation of the body and run code in its thread:
# ``gc.callbacks`` (a metrics or APM library timing collections) and finalizers of the
# garbage. Their frames sit on top of whatever body frame allocated, so they look like the
# body's own calls; but when they run depends on the heap, not on the body, and a refusal
# there would fail a run at random. So while a collection runs, its thread reads the clock
# freely: a callback first in ``gc.callbacks`` marks the start, one last marks the end
# (put back at both ends whenever a body run starts, in case callbacks were added since).
_collecting: int | None = None  # the thread running a garbage collection, if any


def _collection_starts(phase: str, info: dict[str, int]) -> None:
    global _collecting
    if phase == "start":
        _collecting = get_ident()


def _collection_ends(phase: str, info: dict[str, int]) -> None:
    global _collecting
    if phase == "stop":
        _collecting = None


def _bracket_collections() -> None:
    callbacks = gc.callbacks
    if not callbacks or callbacks[0] is not _collection_starts:
        if _collection_starts in callbacks:
            callbacks.remove(_collection_starts)
        callbacks.insert(0, _collection_starts)
    if callbacks[-1] is not _collection_ends:
        if _collection_ends in callbacks:
            callbacks.remove(_collection_ends)
        callbacks.append(_collection_ends)


def guard_enter(loop: _Refuser) -> None:
    """``loop`` starts running a body's code in this thread: the clock is refused to that code
    until ``guard_exit``. The loop's frame that runs the body's callbacks is declared with
    ``dispatches_body``: walking up from a caller, reaching it without passing through wfcore
    means the body called. (Two plain functions, not a context manager: one of each per body
    run, on the hot path of every resume.)"""
    global _running
    tid = get_ident()
    with _lock:
        _running += 1
        if _running == 1:
            for name, original, guard in _SWAPS:
                if _TIME_DICT[name] is original:
                    _TIME_DICT[name] = guard
        _bracket_collections()  # two identity tests when nothing changed
        loops = _inside.get(tid)
        if loops is None:
            _inside[tid] = [loop]
        else:
            loops.append(loop)


def guard_exit() -> None:
    """The last ``guard_enter`` of this thread ends; the originals are put back when no body
    runs in the process any more (unless someone replaced them meanwhile)."""
    global _running
    tid = get_ident()
    with _lock:
        loops = _inside[tid]
        loops.pop()
        if not loops:
            del _inside[tid]
        _running -= 1
        if _running == 0:
            for name, original, guard in _SWAPS:
                if _TIME_DICT[name] is guard:  # not replaced by someone meanwhile
                    _TIME_DICT[name] = original


# -- datetime: stand-ins bound in the body's module -----------------------------------------


class _StandIn(type):
    """Metaclass of the stand-ins: ``isinstance``, ``issubclass`` and ``==`` as the real class."""

    _real: type

    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, cls._real)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, cls._real)

    def __eq__(cls, other: object) -> bool:
        return other is cls or other is cls._real

    def __hash__(cls) -> int:
        return hash(cls._real)


class _Date(_dt.date, metaclass=_StandIn):
    _real = _dt.date
    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is _Date:  # a real date, not a stand-in instance
            return _dt.date(*args, **kwargs)
        return _dt.date.__new__(cls, *args, **kwargs)  # a subclass the module defines later

    @classmethod
    def today(cls) -> Any:
        if _inside:
            _check_here("date.today()", "today")
        return _dt.date.today()


class _Datetime(_dt.datetime, metaclass=_StandIn):
    _real = _dt.datetime
    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is _Datetime:
            return _dt.datetime(*args, **kwargs)
        return _dt.datetime.__new__(cls, *args, **kwargs)

    @classmethod
    def now(cls, tz: _dt.tzinfo | None = None) -> Any:
        if _inside:
            _check_here("datetime.now()", "now")
        return _dt.datetime.now(tz)

    @classmethod
    def utcnow(cls) -> Any:
        if _inside:
            _check_here("datetime.utcnow()", "utcnow")
        return _dt.datetime.utcnow()

    @classmethod
    def today(cls) -> Any:
        if _inside:
            _check_here("datetime.today()", "today")
        return _dt.datetime.today()


for _cls, _real in ((_Date, _dt.date), (_Datetime, _dt.datetime)):
    _cls.__name__ = _cls.__qualname__ = _real.__name__
    _cls.__module__ = "datetime"
    _cls.__doc__ = _real.__doc__


class _DatetimeModule(types.ModuleType):
    """The ``datetime`` module as the body's module sees it: ``datetime`` and ``date`` are
    the stand-ins, everything else is the real module's."""

    datetime = _Datetime
    date = _Date

    def __getattr__(self, name: str) -> Any:
        return getattr(_dt, name)


_DATETIME_MODULE = _DatetimeModule("datetime", _dt.__doc__)
_REBIND: dict[int, object] = {
    id(_dt.datetime): _Datetime,
    id(_dt.date): _Date,
    id(_dt): _DATETIME_MODULE,
    **{id(f): _GUARDS[n] for n, f in _ORIGINALS.items()},
}
_guarded_modules: set[tuple[int, object]] = set()


def guard_module(namespace: MutableMapping[str, Any]) -> None:
    """Rebind, once, the names of a body's module (its function's ``__globals__``) that are
    ``datetime.datetime``, ``datetime.date``, the ``datetime`` module or a clock function."""
    name = namespace.get("__name__")
    key = (id(namespace), name)
    if key in _guarded_modules:
        return
    if isinstance(name, str) and name.partition(".")[0] in _WFCORE:
        return  # wfcore's own bodies (the demo): its modules' calls pass anyway
    with _lock:
        _guarded_modules.add(key)
        for binding, value in list(namespace.items()):
            standin = _REBIND.get(id(value))
            if standin is not None and not binding.startswith("__"):
                namespace[binding] = standin
