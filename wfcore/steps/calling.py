"""Running one step function inside its child task: a real event loop, a timeout, ctx changes.

This is what a worker executes for a step (never workflow code, so it is never replayed):
an ``async def`` step runs to completion on the worker thread's own event loop (made once per
thread and kept for its next steps, as ``wfcore.context.real_loop`` does for async ``wf``
steps: a fresh ``asyncio.run`` loop per step cost ~0.1-0.2 ms, the largest part of this
style's overhead in benchmark B8), so the coroutine may do real I/O; a plain function runs in
the worker thread, or, with a timeout, in a helper thread the worker stops waiting for when
the time is up.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import threading
from collections.abc import Awaitable
from typing import Any

from wfcore.context.real_loop import run_coroutine
from wfcore.steps.errors import StepTimeoutError
from wfcore.steps.model import StepFunction

__all__ = ["call_step", "run_in_child"]

_ATOMIC = frozenset({type(None), bool, int, float, complex, str, bytes})


def run_in_child(
    func: StepFunction, step: str, ctx: dict[str, Any], timeout: float | None
) -> list[Any]:
    """Run ``func(ctx)``; ``[return value, changed keys, removed keys]`` of its ctx.

    The step sees (and may change) its own copy of ``ctx``; only what it changed goes back,
    so parallel steps' changes merge key by key.
    """
    # Values that cannot change in place are kept as they are (deepcopy of each is most of
    # the snapshot's cost otherwise); the others are copied.
    before = {k: v if type(v) in _ATOMIC else copy.deepcopy(v) for k, v in ctx.items()}
    value = call_step(func, step, ctx, timeout)
    changed = {k: v for k, v in ctx.items() if k not in before or not _same(before[k], v)}
    removed = [k for k in before if k not in ctx]
    return [value, changed, removed]


def call_step(func: StepFunction, step: str, ctx: dict[str, Any], timeout: float | None) -> Any:
    """``func(ctx)`` to completion within ``timeout`` seconds.

    Raises:
        StepTimeoutError: it did not finish in time (an async step is cancelled; a plain
            function's thread cannot be stopped, it finishes on its own and is ignored).
    """
    if inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - an async callable object
    ):
        return _run_async(func(ctx), step, timeout)
    value = func(ctx) if timeout is None else _in_thread(func, step, ctx, timeout)
    if inspect.isawaitable(value):  # a plain function that returned a coroutine
        return _run_async(value, step, timeout)
    return value


def _run_async(awaitable: Awaitable[Any], step: str, timeout: float | None) -> Any:
    async def bounded() -> Any:
        if timeout is None:
            return await awaitable
        try:
            return await asyncio.wait_for(awaitable, timeout)
        except TimeoutError:
            raise _timed_out(step, timeout) from None

    return run_coroutine(bounded())


def _in_thread(func: StepFunction, step: str, ctx: dict[str, Any], timeout: float) -> Any:
    box: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = func(ctx)
        except BaseException as exc:  # handed to the waiting worker thread
            box["error"] = exc
        finally:
            done.set()

    thread = threading.Thread(target=target, name=f"wfcore-step-{step}", daemon=True)
    thread.start()
    if not done.wait(timeout):
        raise _timed_out(step, timeout)
    if "error" in box:
        raise box["error"]
    return box["value"]


def _timed_out(step: str, timeout: float) -> StepTimeoutError:
    return StepTimeoutError(f"step {step!r} did not finish within {timeout:g} s")


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # a value whose == raises: treat it as changed
        return False
