"""Running a coroutine to completion on a real event loop, from a worker thread.

The default for plain async tasks and async ``wf.deterministic`` steps when no integration
provides its own (the Dramatiq plugin uses the AsyncIO middleware's event loop thread): one
event loop per thread, kept for the thread's next coroutines.
"""

from __future__ import annotations

import asyncio
import threading
from asyncio import events
from collections.abc import Coroutine
from typing import Any

__all__ = ["close_thread_loop", "run_coroutine"]

_local = threading.local()


def run_coroutine(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` to completion on this thread's real event loop and return its result.

    Callable while a deterministic workflow loop runs in this thread (an async step): that
    loop is set aside for the duration and restored after.
    """
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = _local.loop = asyncio.new_event_loop()
    previous = events._get_running_loop()
    events._set_running_loop(None)
    try:
        return loop.run_until_complete(coro)
    finally:
        events._set_running_loop(previous)


def close_thread_loop() -> None:
    """Close this thread's event loop, if ``run_coroutine`` made one (before a short-lived
    thread ends: an unclosed loop is a ``ResourceWarning`` when it is collected)."""
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is not None and not loop.is_closed():
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
