"""A real ``dramatiq`` worker SIGKILLed in the middle of a step: another worker resumes the
workflow at that step; the steps that had finished are not run again."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.integration.apps import steps_flows as f
from tests.integration.apps.ledger import Ledger
from tests.integration.apps.steps_flows import build_steps_app
from tests.integration.harness import WorkerProcess, delete_redis_keys, redis_url_of
from tests.steps.conftest import WORKER, Setup, redis_env
from tests.support.redis_server import RedisServer
from wfcore.steps.driver import CTX_KEY


@pytest.mark.redis
def test_a_sigkilled_worker_resumes_at_the_step_in_progress(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    url = redis_url_of(redis_server)
    env, prefixes = redis_env(url, tmp_path)
    app = build_steps_app(env)
    ctx = Setup("redis", app, Path(env["WFCORE_IT_LEDGER"])).ctx()
    ledger, token = Ledger(ctx["ledger"]), ctx["token"]
    first = WorkerProcess(env, tmp_path / "first.log", target=WORKER)
    second = WorkerProcess(env, tmp_path / "second.log", target=WORKER)
    wf = f.crash_workflow(ctx, app)

    async def scenario() -> dict[str, object]:
        run = asyncio.create_task(wf.run())
        deadline = time.monotonic() + 30
        # Given a workflow whose second step is running on a real worker
        while "charge" not in ledger.read(f"ran-{token}"):
            assert time.monotonic() < deadline, first.log()[-2000:]
            assert not run.done(), first.log()[-2000:]
            await asyncio.sleep(0.05)
        assert wf.handle is not None
        assert wf.handle.get_data(CTX_KEY)["reserve"] == "R-1"  # ctx saved after step 1
        # When that worker is SIGKILLed and another one starts
        first.kill()
        ledger.touch(f"release-{token}")
        second.start()
        return await asyncio.wait_for(run, 60)

    try:
        first.start()
        final = asyncio.run(scenario())
    finally:
        first.kill()
        second.stop()
        app.close()
        app.broker.close()
        delete_redis_keys(url, *prefixes)

    # Then it finished from the step it was in: reserve ran once, charge again (it was in
    # flight), ship and the exit step once; the ctx is that of a run without a crash
    ran = ledger.read(f"ran-{token}")
    assert ran.count("reserve") == ran.count("ship") == ran.count("receipt") == 1
    assert ran.count("charge") >= 2
    assert ran[0] == "reserve"
    assert ran[-2:] == ["ship", "receipt"]
    assert final["charge"] == "paid R-1"
    assert final["charged"] is True
    assert final["ship"] == "shipped"
