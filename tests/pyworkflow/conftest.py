"""Fixtures of the PyWorkflow-style tests: the README's workflows on an embedded App and on a
real ``dramatiq`` worker process over Redis, both on a clock the test moves forward."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.flow.conftest import redis_env
from tests.integration.apps.clock import OffsetClock
from tests.integration.apps.pyworkflow_app import build_pyworkflow_app
from tests.integration.apps.pyworkflow_seed import Seeds, build_seeds
from tests.integration.harness import WorkerProcess, delete_redis_keys, redis_url_of
from tests.support.redis_server import RedisServer
from wfcore import HistoryEvent
from wfcore_dramatiq import App

__all__ = ["WORKER", "PySetup", "RedisPy", "pending_sleeps", "redis_py"]

WORKER = "tests.integration.apps.pyworkflow_worker"
_LIMIT = 30.0  # seconds a test waits for a run before failing


def pending_sleeps(history: list[HistoryEvent]) -> list[float]:
    """Fire times of the root's timers that have not fired."""
    fired = {e.seq for e in history if e.kind == "sleep_fired"}
    return [float(e.value) for e in history if e.kind == "sleep" and e.seq not in fired]


@dataclass(frozen=True, slots=True)
class PySetup:
    """Where a test's runs go: ``embedded`` (an in-process App) or ``redis`` (real workers)."""

    kind: str
    app: App
    seeds: Seeds
    clock: OffsetClock
    log_file: Path | None = None

    def wait_until_sleeping(self, run_id: str) -> list[HistoryEvent]:
        """Wait until the run is suspended on a timer that is not due; its history."""
        handle, deadline = self.app.handle(run_id), time.monotonic() + _LIMIT
        while True:
            history = handle.history()
            if handle.status().value == "SUSPENDED" and pending_sleeps(history):
                return history
            assert time.monotonic() < deadline, f"run {run_id} never slept: {handle.status()}"
            time.sleep(0.02)

    def finish(self, run_id: str) -> Any:
        """Run ``run_id`` to its end, moving the clock to each timer it sleeps on (and waking
        it, as the recovery sweep would); its result (or its error, raised)."""
        handle, deadline = self.app.handle(run_id), time.monotonic() + _LIMIT
        while not handle.status().finished:
            assert time.monotonic() < deadline, f"run {run_id} stuck: {handle.status()}"
            if handle.status().value == "SUSPENDED":
                due = pending_sleeps(handle.history())
                if due and max(due) > self.clock():
                    self.clock.advance(max(due) - self.clock() + 1)
                if due:
                    self.app.recover()
            time.sleep(0.02)
        return handle.result(timeout=1)


@dataclass(frozen=True, slots=True)
class RedisPy:
    """The client side of the real-worker deployment, and its workers' environment."""

    app: App
    seeds: Seeds
    env: dict[str, str]
    root: Path


@pytest.fixture(scope="session")
def redis_py(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedisPy]:
    """Every README example served by one real ``dramatiq`` worker process for the session
    (which logs JSON with the run's context to ``workflow.log``)."""
    url = redis_url_of(redis_server)
    root = tmp_path_factory.mktemp("pyworkflow-redis")
    env, prefixes = redis_env(url, root)
    env["WFCORE_IT_LOG_FILE"] = str(root / "workflow.log")
    app, seeds = build_pyworkflow_app(env)
    worker = WorkerProcess(env, root / "worker.log", target=WORKER)
    try:
        worker.start()
        yield RedisPy(app, seeds, env, root)
    finally:
        worker.stop()
        app.close()
        app.broker.close()
        delete_redis_keys(url, *prefixes)


@pytest.fixture(params=["embedded", pytest.param("redis", marks=pytest.mark.redis)])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PySetup]:
    """The README's workflows on a fresh embedded App, and on the session's real worker."""
    if request.param == "embedded":
        clock = OffsetClock(tmp_path / "clock")
        app = App(store=f"sqlite:///{tmp_path / 'wfcore.sqlite3'}", worker_threads=4, clock=clock)
        try:
            yield PySetup("embedded", app, build_seeds(app, tmp_path / "ledger"), clock)
        finally:
            app.close()
    else:
        deployment: RedisPy = request.getfixturevalue("redis_py")
        clock = OffsetClock(Path(deployment.env["WFCORE_IT_LEDGER"]) / "clock")
        log_file = Path(deployment.env["WFCORE_IT_LOG_FILE"])
        try:
            yield PySetup("redis", deployment.app, deployment.seeds, clock, log_file)
        finally:
            # Back to real time for the next test: with the clock ahead, every invocation
            # written since (at real time) would look stale to the workers' sweeps.
            clock.reset()
