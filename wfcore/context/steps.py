"""Checkpointed steps: ``wf.deterministic(name, fn, *args, **kwargs)``."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, overload

from wfcore._history import Kind, encode_entry
from wfcore.context.awaiting import Awaiting
from wfcore.errors import ConfigurationError

__all__ = ["Steps"]

T = TypeVar("T")


class _Deterministic:
    """``wf.deterministic``: callable, with Pynenc's ``_deterministic_operation`` alias."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: Steps) -> None:
        self._ctx = ctx

    @overload
    def __call__(
        self, name: str, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any, **kwargs: Any
    ) -> T: ...

    @overload
    def __call__(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...

    def __call__(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        ctx = self._ctx
        if ctx._aio is None:
            return ctx._step(name, fn, args, kwargs)
        # An async workflow body awaits the step: a future, already done (the step ran, or
        # its recorded result came back).
        aio = ctx._loop()
        try:
            value = ctx._step(name, fn, args, kwargs)
        except Exception as exc:
            return aio.failed(exc)
        return aio.resolved(value)

    def _deterministic_operation(self, name: str, fn: Callable[..., T]) -> T:
        return self._ctx._step(name, fn, (), {})


class Steps(Awaiting):
    """Runs a step's function once and records its result (or exception)."""

    @property
    def deterministic(self) -> _Deterministic:
        """``wf.deterministic(name, fn, *args, **kwargs)``: the inline, checkpointed step.

        ``fn`` may be an ``async def`` function: its coroutine runs to completion on a real
        event loop. In an async workflow body the step is awaited:
        ``await wf.deterministic(name, fn, ...)``.

        Built on each access, so the context holds no reference back to itself: contexts are
        freed by reference counting when a run ends, not left to the garbage collector.
        """
        return _Deterministic(self)

    def _step(self, name: str, fn: Callable[..., T], args: Any, kwargs: Any) -> T:
        if not isinstance(name, str) or not name:
            raise ConfigurationError(
                f"wf.deterministic needs a non-empty str name first, got {name!r}"
            )
        if not callable(fn):
            raise ConfigurationError(f"wf.deterministic({name!r}, fn): fn must be callable")
        entry = self._replay(Kind.DETERMINISTIC, name)
        if entry is None:
            what = f"deterministic({name!r})"
            try:
                value: Any = fn(*args, **kwargs)
                if inspect.iscoroutine(value):
                    # An async step: its real I/O runs once, on a real event loop.
                    value = self._rt.run_coroutine(value)
                ok = True
            except Exception as exc:
                value, ok = exc, False
            data = encode_entry(self._rt.codec, Kind.DETERMINISTIC, name, ok, value, what)
            # A step is a checkpoint: its result is durable before the code goes on.
            self._append(data)
            self._flush()
            if ok:
                return value  # type: ignore[no-any-return]
            # Raise what a replay would raise, so first run and replay behave alike.
            rebuilt = self._rt.codec.decode(data, what=what)[3]
            raise rebuilt from value
        if entry.ok:
            return entry.value  # type: ignore[no-any-return]
        raise entry.value
