"""The App of the schedule kill test, as its ``dramatiq`` worker builds it:
``dramatiq tests.schedules.worker_app:broker``.

Environment: ``WFCORE_SCHED_BROKER_URL`` (Redis), ``WFCORE_SCHED_NAMESPACE`` (the
RedisBroker key namespace of this run), ``WFCORE_SCHED_STORE_URL``. The worker declares the
``beat`` schedule (every second, every fire time started, catch-up over an hour) and sweeps
every 0.2 s for invocations stale after 1 s, so a killed worker's work is re-sent quickly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from dramatiq.brokers.redis import RedisBroker

from wfcore_dramatiq import App

SCHEDULE = "beat"


def build(env: Mapping[str, str]) -> App:
    broker = RedisBroker(  # type: ignore[no-untyped-call]
        url=env["WFCORE_SCHED_BROKER_URL"], namespace=env["WFCORE_SCHED_NAMESPACE"]
    )
    app = App(
        broker=broker,
        store=env["WFCORE_SCHED_STORE_URL"],
        recovery_interval=0.2,
        stale_after=1.0,
    )

    @app.task
    def beat() -> str:
        return "beat"

    app.schedule(beat, every="1s", schedule_id=SCHEDULE, overlap="allow", catchup_window="1h")
    return app


if "WFCORE_SCHED_BROKER_URL" in os.environ:
    app = build(os.environ)
    broker = app.broker
