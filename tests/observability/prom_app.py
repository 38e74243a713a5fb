"""The App of the Prometheus-middleware test, as its ``dramatiq`` worker and the test build it.

Environment: ``WFCORE_OBS_BROKER_URL`` (Redis), ``WFCORE_OBS_NAMESPACE``,
``WFCORE_OBS_STORE_URL``; ``WFCORE_OBS_WORKER=1`` in the worker, which adds Dramatiq's
Prometheus middleware (its ``dramatiq_prom_*`` variables come from the test) and enables
wfcore's metrics.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from dramatiq.brokers.redis import RedisBroker

from wfcore_dramatiq import App, DramatiqTask
from wfcore_dramatiq.observability import enable_metrics

__all__ = ["Tasks", "build"]


class Tasks:
    """A parent that waits for its children and a nap."""

    def __init__(self, app: App) -> None:
        @app.task
        def obs_child(n: int) -> int:
            return n + 1

        @app.task
        def obs_parent(n: int) -> int:
            wf = obs_parent.wf
            handles = [wf.start_task(obs_child, i) for i in range(n)]
            wf.sleep(0.1)
            return sum(int(r.result) for r in wf.wait(*handles))

        @app.task
        def obs_waits() -> object:
            return obs_waits.wf.wait_signal("go")

        self.child: DramatiqTask[[int], int] = obs_child
        self.parent: DramatiqTask[[int], int] = obs_parent
        self.waits: DramatiqTask[[], object] = obs_waits


def build(env: Mapping[str, str]) -> tuple[App, Tasks]:
    """The App (and tasks); in the worker with the Prometheus middleware and metrics."""
    url, namespace = env["WFCORE_OBS_BROKER_URL"], env["WFCORE_OBS_NAMESPACE"]
    broker = RedisBroker(url=url, namespace=namespace)  # type: ignore[no-untyped-call]
    worker = env.get("WFCORE_OBS_WORKER") == "1"
    if worker:
        from dramatiq.middleware.prometheus import Prometheus

        broker.add_middleware(Prometheus())
    app = App(broker=broker, store=env["WFCORE_OBS_STORE_URL"])
    tasks = Tasks(app)
    if worker:
        # Served by Dramatiq's exposition server; the fleet gauges refreshed quickly.
        assert enable_metrics(app, fleet_interval=0.3) is None
    return app, tasks


if os.environ.get("WFCORE_OBS_WORKER") == "1":
    app, tasks = build(os.environ)
    broker = app.broker
