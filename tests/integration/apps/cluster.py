"""The App real workers run in the Redis Cluster tests: ``dramatiq
tests.integration.apps.cluster:broker``.

The store is a Redis Cluster (``WFCORE_IT_STORE_URL``, ``redis+cluster://...``); the broker a
separate standalone Redis (``WFCORE_IT_BROKER_URL``), as a RedisBroker cannot run on a
cluster. Retries and recovery are quick so a run interrupted by a failover resumes within
seconds: a message that failed on an unavailable store is retried after 0.1 to 1 s, a
SIGKILLed worker's messages come back after 2 s, and sweeps run every 0.5 s.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Retries

from wfcore_dramatiq import App

__all__ = ["ClusterTasks", "build"]


class ClusterTasks:
    """A parent workflow fanning out to child workflows, each with a plain child task; and
    one fanning out to plain child tasks (invocations of its own workflow)."""

    def __init__(self, app: App) -> None:
        @app.task
        def leaf(i: int) -> int:
            return i * i

        @app.task(force_new_workflow=True)
        def child(i: int) -> int:
            return int(child.wf.execute_task(leaf, i).result) + 1

        @app.task
        def parent(n: int) -> int:
            wf = parent.wf
            handles = [wf.start_task(child, i) for i in range(n)]
            return sum(int(h.result) for h in wf.wait(*handles))

        @app.task
        def fan(n: int) -> int:
            wf = fan.wf
            handles = [wf.start_task(leaf, i) for i in range(n)]
            first = sum(int(h.result) for h in wf.wait(*handles))
            return first + int(wf.execute_task(leaf, n).result)

        self.leaf, self.child, self.parent, self.fan = leaf, child, parent, fan


def build(env: Mapping[str, str]) -> tuple[App, ClusterTasks]:
    """The App and its tasks, exactly as the test process builds them."""
    broker = RedisBroker(  # type: ignore[no-untyped-call]
        url=env["WFCORE_IT_BROKER_URL"],
        namespace=env["WFCORE_IT_NAMESPACE"],
        heartbeat_timeout=2000,
        maintenance_chance=1_000_000,
    )
    for middleware in broker.middleware:
        if isinstance(middleware, Retries):
            middleware.min_backoff, middleware.max_backoff = 100, 1000
            middleware.max_retries = 1000
    store = env["WFCORE_IT_STORE_URL"]
    app = App(broker=broker, store=store, recovery_interval=0.5, stale_after=1.0)
    return app, ClusterTasks(app)


if "WFCORE_IT_STORE_URL" in os.environ:
    app, tasks = build(os.environ)
    broker = app.broker
