"""Workflows that continue as new (``wf.continue_as_new``), sync and async."""

from __future__ import annotations

from typing import Any

from tests.integration.apps.ledger import Ledger
from wfcore_dramatiq import App

__all__ = ["ContinuingTasks"]


class ContinuingTasks:
    """``counter``/``acounter(token, total, left)``: each run adds 1 through a child and
    keeps the total in data, then continues as new until ``left`` runs are left."""

    def __init__(self, app: App, ledger: Ledger) -> None:
        @app.task
        def bump(total: int) -> int:
            return total + 1

        @app.task
        def counter(token: str, total: int, left: int) -> dict[str, Any]:
            wf = counter.wf
            total = wf.execute_task(bump, total).result
            wf.set_data("total", total)
            ledger.append(f"{token}.run{wf.run}")  # every execution, replays too
            if left:
                wf.continue_as_new(token, total, left=left - 1)
            return {"total": total, "run": wf.run}

        @app.task(workflow=True)
        async def acounter(token: str, total: int, left: int) -> dict[str, Any]:
            wf = acounter.wf
            total = (await wf.execute_task(bump, total)).result
            await wf.sleep(0.01)
            wf.set_data("total", total)
            if left:
                wf.continue_as_new(token, total, left - 1)
            return {"total": total, "run": wf.run}

        self.bump, self.counter, self.acounter = bump, counter, acounter
