"""Async tasks for the async suite: plain async tasks, async workflow bodies, sync tasks."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from tests.integration.apps.ledger import Ledger
from wfcore_dramatiq import App

__all__ = ["Aio"]


async def _issue_token(user: str) -> str:
    await asyncio.sleep(0.001)  # stands for real I/O: runs once, on a real event loop
    return f"token-{user}"


class Aio:
    """``dashboard`` (an async workflow body) runs ``fetch`` (a plain async task: real event
    loop, reports the thread it ran in) and ``shout`` (sync) as children, an async step, a
    sleep and a signal wait; ``join`` gathers N children; ``sync_parent`` runs the async
    body ``plus_one`` as a child; ``crashy`` gathers ``held`` (a plain async task that waits
    for the ledger's ``release-<token>``) and ``counted`` (which counts its runs);
    ``join_wait`` joins N children with one ``wf.wait`` and a timer-bounded signal wait;
    ``clocky`` reads the wall clock in its body (refused). Every task is on ``queue``."""

    def __init__(self, app: App, ledger: Ledger | None = None, queue: str = "default") -> None:
        @app.task(queue_name=queue)
        async def fetch(path: str) -> dict[str, str]:
            await asyncio.sleep(0.001)  # real asyncio: this task runs on a real event loop
            return {"path": path, "thread": type(threading.current_thread()).__name__}

        @app.task(queue_name=queue)
        def shout(text: str) -> str:
            return text.upper()

        @app.task(force_new_workflow=True, queue_name=queue)
        async def dashboard(user: str) -> dict[str, Any]:
            wf = dashboard.wf
            wf.set_data("user", user)
            first = await wf.execute_task(fetch, f"/users/{user}")
            orders, recs = await asyncio.gather(
                wf.execute_task(fetch, "/orders"), wf.execute_task(shout, "recs")
            )
            token = await wf.deterministic("token", _issue_token, user)
            await wf.sleep(0.05)
            approval = await wf.wait_signal("approval", timeout=30, default=None)
            return {
                "user": first.result,
                "orders": orders.result,
                "recs": recs.result,
                "token": token,
                "approval": approval,
            }

        @app.task(queue_name=queue)
        def leaf(i: int) -> int:
            return i

        @app.task(workflow=True, queue_name=queue)
        async def join(n: int) -> int:
            results = await asyncio.gather(*[join.wf.execute_task(leaf, i) for i in range(n)])
            return sum(r.result for r in results)

        @app.task(force_new_workflow=True, queue_name=queue)
        async def plus_one(x: int) -> int:
            return int((await plus_one.wf.execute_task(leaf, x)).result) + 1

        @app.task(queue_name=queue)
        def sync_parent(x: int) -> int:
            return int(sync_parent.wf.execute_task(plus_one, x).result)

        @app.task(queue_name=queue)
        async def held(token: str) -> str:
            # A plain async task that says it started, then waits for the test's release.
            assert ledger is not None
            ledger.append(f"held-started-{token}")
            while not ledger.exists(f"release-{token}"):
                await asyncio.sleep(0.02)
            return "released"

        @app.task(force_new_workflow=True, queue_name=queue)
        async def crashy(token: str) -> list[Any]:
            wf = crashy.wf
            first = await wf.execute_task(counted, f"before-{token}")
            held_child, second = await asyncio.gather(
                wf.execute_task(held, token), wf.execute_task(counted, f"during-{token}")
            )
            return [first.result, held_child.result, second.result]

        @app.task(queue_name=queue)
        def counted(name: str) -> int:
            assert ledger is not None
            ledger.append(f"counted-{name}")
            return ledger.count(f"counted-{name}")

        @app.task(workflow=True, queue_name=queue)
        async def join_wait(n: int) -> list[Any]:
            wf = join_wait.wf
            handles = [wf.start_task(leaf, i) for i in range(n)]
            results = await wf.wait(*handles)  # one wake-up, when all n are done
            try:  # a durable timer (asyncio's timeout on the loop's virtual clock)
                async with asyncio.timeout(0.2):
                    late = await wf.wait_signal("never")
            except TimeoutError:
                late = "timed out"
            return [sum(r.result for r in results), late]

        @app.task(workflow=True, queue_name=queue)
        async def clocky() -> float:
            return time.time()  # refused: a workflow body must use wf.utc_now()

        self.app = app
        self.clocky = clocky
        self.join_wait = join_wait
        self.crashy = crashy
        self.fetch = fetch
        self.dashboard = dashboard
        self.join = join
        self.sync_parent = sync_parent
