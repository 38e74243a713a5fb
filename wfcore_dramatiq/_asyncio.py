"""Async tasks on Dramatiq: plain async tasks run on the AsyncIO middleware's event loop.

A plain async task (``async def`` without ``workflow=True``) does real I/O, so its coroutine
runs on a real event loop: the one Dramatiq's ``AsyncIO`` middleware runs in its own thread
in each worker process (the App adds the middleware when such a task is declared; the worker
thread that took the message waits for the coroutine, as for Dramatiq's own async actors).
Async ``wf.deterministic`` steps run there too. Where that loop is not running (the
middleware was added after the worker booted, or outside a worker), a per-thread event loop
is used instead.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

import dramatiq
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.middleware.asyncio import AsyncIO

from wfcore.context.real_loop import run_coroutine as run_on_thread_loop

__all__ = ["ensure_asyncio", "run_coroutine"]


def ensure_asyncio(broker: dramatiq.Broker) -> None:
    """Add Dramatiq's ``AsyncIO`` middleware to ``broker`` unless it has it."""
    if not any(isinstance(m, AsyncIO) for m in broker.middleware):
        broker.add_middleware(AsyncIO())


def run_coroutine(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` on the worker's AsyncIO event loop thread and wait for its result."""
    thread = get_event_loop_thread()
    if thread is None or not thread.loop.is_running():
        return run_on_thread_loop(coro)
    return thread.run_coroutine(coro)
