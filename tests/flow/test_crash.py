"""A real ``dramatiq`` worker SIGKILLed in the middle of a durable flow: another worker
resumes the run at the exact queue position, and finished actions are not run again."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from tests.flow.conftest import redis_env
from tests.integration.apps.flows import build_flow_app
from tests.integration.apps.ledger import Ledger
from tests.integration.harness import WorkerProcess, delete_redis_keys, redis_url_of
from tests.support.redis_server import RedisServer
from wfcore.flow.durable import POSITION_KEY

TARGET = "tests.integration.apps.flow_worker"


@pytest.mark.redis
def test_a_sigkilled_worker_resumes_the_flow_at_its_exact_queue_position(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    url = redis_url_of(redis_server)
    env, prefixes = redis_env(url, tmp_path)
    app, _, crash = build_flow_app(env)
    ledger = Ledger(env["WFCORE_IT_LEDGER"])
    token = uuid.uuid4().hex[:12]
    first = WorkerProcess(env, tmp_path / "first.log", target=TARGET)
    second = WorkerProcess(env, tmp_path / "second.log", target=TARGET)
    try:
        # Given a four-step flow whose third action is running on a real worker
        first.start()
        run = crash.workflow.start("one", {"step": "one", "token": token})
        deadline = time.monotonic() + 30
        while "three" not in ledger.read(f"started-{token}"):
            assert time.monotonic() < deadline, first.log()[-2000:]
            time.sleep(0.05)
        assert run.handle.get_data(POSITION_KEY) == {
            "executed": 2,
            "last": "two",
            "queued": ["three"],
        }

        # When that worker is SIGKILLed and another one starts
        first.kill()
        ledger.touch(f"release-{token}")
        second.start()
        context, trace = run.result(timeout=60)
    finally:
        first.kill()
        second.stop()
        app.close()
        app.broker.close()
        delete_redis_keys(url, *prefixes)

    # Then the run finished from where it was: one and two ran once, three ran again (it was
    # in flight), four once; the context and the trace are those of a run without a crash
    started = ledger.read(f"started-{token}")
    finished = ledger.read(f"finished-{token}")
    assert started.count("one") == started.count("two") == started.count("four") == 1
    assert started.count("three") >= 2
    assert finished[:2] == ["one", "two"]
    assert finished.count("four") == 1
    assert [e.step for e in trace] == ["one", "two", "three", "four"]
    assert [e.result.value for e in trace] == ["ONE", "TWO", "THREE", "FOUR"]
    assert context == {"seen": ["one", "two", "three", "four"]}
