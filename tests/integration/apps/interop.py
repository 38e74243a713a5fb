"""Workflow tasks and plain Dramatiq actors that fit together (the interop suite)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dramatiq

from wfcore.errors import TaskFailedError
from wfcore_dramatiq import App, DramatiqTask

__all__ = ["Interop"]


class Interop:
    """``double``/``slow_inc`` for groups and pipelines (results stored), and ``orchestrate``
    running the plain actors ``shout`` (fails on ``"boom"``) as children. ``called`` is told
    each run of ``shout``."""

    def __init__(self, app: App, called: Callable[[str], object] = lambda name: None) -> None:
        @app.task(store_results=True)
        def double(n: int) -> int:
            return n * 2

        @app.task(store_results=True)
        def slow_inc(n: int) -> int:
            wf = slow_inc.wf
            doubled = wf.execute_task(double, n).result  # suspends: its first run ends here
            wf.sleep(0.05)
            return int(doubled) + 1

        @dramatiq.actor(broker=app.broker, max_retries=0)
        def shout(text: str) -> str:
            called("shout")
            if text == "boom":
                raise ValueError("cannot shout boom")
            return text.upper()

        @app.task
        def orchestrate(text: str) -> dict[str, Any]:
            wf = orchestrate.wf
            loud = wf.execute_task(shout, text).result
            try:
                wf.execute_task(shout, "boom")
            except TaskFailedError as exc:
                return {"loud": loud, "error": [exc.error_type, exc.error_message]}
            return {"loud": loud, "error": None}

        self.double: DramatiqTask[[int], int] = double
        self.slow_inc: DramatiqTask[[int], int] = slow_inc
        self.orchestrate: DramatiqTask[[str], dict[str, Any]] = orchestrate
        self.shout = shout
