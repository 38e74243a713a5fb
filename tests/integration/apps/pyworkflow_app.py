"""The App of the PyWorkflow-style tests' real workers, as the test process builds it too."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from dramatiq.brokers.redis import RedisBroker

from tests.integration.apps.clock import OffsetClock
from tests.integration.apps.pyworkflow_seed import Seeds, build_seeds
from wfcore_dramatiq import App

__all__ = ["build_pyworkflow_app"]


def build_pyworkflow_app(env: Mapping[str, str]) -> tuple[App, Seeds]:
    """A RedisBroker/RedisStore App on the shared test clock, with every README example.

    The broker redelivers a dead worker's messages after 2 s and sweeps run every 0.5 s for
    invocations idle 5 s, so a SIGKILLed worker's run resumes within seconds. Not idle 1 s as
    the other suites: a step's retry waits 1 s in the RedisBroker's delay queue, which hands
    it over up to ~1 s late; a sweep of runs idle 1 s sent the invocation again meanwhile,
    and the step ran twice (at-least-once, but these tests count calls).
    """
    broker = RedisBroker(  # type: ignore[no-untyped-call]
        url=env["WFCORE_IT_BROKER_URL"],
        namespace=env["WFCORE_IT_NAMESPACE"],
        heartbeat_timeout=2000,
        maintenance_chance=1_000_000,
    )
    ledger = Path(env["WFCORE_IT_LEDGER"])
    app = App(
        broker=broker,
        store=env["WFCORE_IT_STORE_URL"],
        recovery_interval=0.5,
        stale_after=5.0,
        clock=OffsetClock(ledger / "clock"),
    )
    return app, build_seeds(app, ledger)
