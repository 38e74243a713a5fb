"""PyWorkflow style under SIGKILL: the worker running a run's second step dies; a fresh
worker picks the run up at that step, and the first step is not repeated."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from tests.flow.conftest import redis_env
from tests.integration.apps.pyworkflow_app import build_pyworkflow_app
from tests.integration.harness import WorkerProcess, delete_redis_keys, redis_url_of
from tests.pyworkflow.conftest import WORKER
from tests.support.redis_server import RedisServer
from wfcore.pyworkflow import EventType, events


@pytest.mark.redis
def test_a_sigkilled_worker_resumes_at_the_step_in_progress(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    url = redis_url_of(redis_server)
    env, prefixes = redis_env(url, tmp_path)
    app, seeds = build_pyworkflow_app(env)
    order = f"ORD-{uuid.uuid4().hex[:8]}"
    first = WorkerProcess(env, tmp_path / "first.log", target=WORKER)
    second = WorkerProcess(env, tmp_path / "second.log", target=WORKER)
    try:
        first.start()
        # Given a run whose second step is running on a real worker
        run_id = app.start(seeds.crash_order, order)
        deadline = time.monotonic() + 30
        while "pay" not in seeds.ledger.read(f"ran-{order}"):
            assert time.monotonic() < deadline, first.log()[-2000:]
            time.sleep(0.05)

        # When that worker is SIGKILLed and another one starts
        first.kill()
        seeds.ledger.touch(f"release-{order}")
        second.start()
        result = app.handle(run_id).result(timeout=60)
        history = app.handle(run_id).history()
    finally:
        first.kill()
        second.stop()
        app.close()
        app.broker.close()
        delete_redis_keys(url, *prefixes)

    # Then it finished from the step it was in: reserve ran once, pay again (it was in
    # flight), ship once; the history has each step completed once
    assert result == ["R-1", "paid R-1", "shipped"]
    ran = seeds.ledger.read(f"ran-{order}")
    assert ran.count("reserve") == ran.count("ship") == 1
    assert ran.count("pay") >= 2
    assert ran[0] == "reserve"
    assert ran[-1] == "ship"
    done = [e.step_name for e in events(history) if e.type is EventType.STEP_COMPLETED]
    assert done == ["reserve", "pay", "ship"]
