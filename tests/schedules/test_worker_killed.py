"""A real ``dramatiq`` worker SIGKILLed around schedule fire times: every fire time still
starts exactly one workflow, and none is lost.

Real time, one fire a second: the fire times are whole seconds (``every`` fire times are
multiples of the period), so the test kills the worker at chosen offsets from one (just
before it, just after it, while its workflow may be starting) and restarts another. The
fire times that pass while no worker runs are started by the catch-up on recovery.
"""

from __future__ import annotations

import itertools
import math
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from tests.integration.harness import WorkerProcess, delete_redis_keys, redis_url_of
from tests.schedules.worker_app import SCHEDULE
from tests.support.redis_server import RedisServer
from wfcore import WorkflowStatus, open_store
from wfcore._models import WorkflowRecord
from wfcore.store.listing import list_page

pytestmark = pytest.mark.redis

KILL_OFFSETS = (-0.05, 0.02, 0.25)  # seconds from a fire time


def _beats(url: str) -> list[WorkflowRecord]:
    store = open_store(url, read_only=True)
    try:
        return list_page(store, workflow_type="beat", limit=500).workflows
    finally:
        store.close()


def _fire_time(record: WorkflowRecord) -> float:
    assert record.idempotency_key is not None
    when = record.idempotency_key.removeprefix(f"schedule:{SCHEDULE}:")
    return datetime.fromisoformat(when).timestamp()


def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.timeout(180)
def test_a_worker_killed_around_fire_times_starts_each_exactly_once(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    broker_url = redis_url_of(redis_server)
    namespace = f"wfcore-sched-{uuid.uuid4().hex[:12]}"
    store_url = f"sqlite:///{tmp_path / 'schedules.sqlite3'}"
    env = {
        "WFCORE_SCHED_BROKER_URL": broker_url,
        "WFCORE_SCHED_NAMESPACE": namespace,
        "WFCORE_SCHED_STORE_URL": store_url,
    }
    workers: list[WorkerProcess] = []

    def boot() -> WorkerProcess:
        worker = WorkerProcess(
            env,
            tmp_path / f"worker-{len(workers)}.log",
            target="tests.schedules.worker_app:broker",
            threads=2,
        )
        workers.append(worker)
        worker.start()
        return worker

    killed_at: list[float] = []
    try:
        worker = boot()
        _wait(lambda: len(_beats(store_url)) >= 2, 30, "the first fires")
        for offset in KILL_OFFSETS:
            # Given a worker firing every second, when it is SIGKILLed at `offset` from a
            # fire time (the next whole second far enough ahead)
            fire = math.floor(time.time()) + 2
            time.sleep(max(0.0, fire + offset - time.time()))
            worker.kill()
            killed_at.append(fire)
            # and another worker starts (the fire times meanwhile pass unattended)
            worker = boot()
            _wait(
                lambda f=fire: any(_fire_time(r) > f + 1 for r in _beats(store_url)),
                30,
                f"fires after the kill at {fire}",
            )
        # Then, once the last worker caught up, every workflow it started completed
        last = max(_fire_time(r) for r in _beats(store_url))
        _wait(
            lambda: all(r.status is WorkflowStatus.COMPLETED for r in _beats(store_url)),
            30,
            "every beat to complete",
        )
    finally:
        for running in workers:
            running.stop()
        delete_redis_keys(broker_url, namespace)
    beats = [r for r in _beats(store_url) if _fire_time(r) <= last]
    times = sorted(_fire_time(r) for r in beats)
    # each fire time started exactly one workflow (keys are unique per fire time)...
    assert len(times) == len(set(times))
    # ...and none was lost: one a second, no gap, across every kill
    assert {b - a for a, b in itertools.pairwise(times)} == {1.0}
    assert all(times[0] < fire < times[-1] for fire in killed_at)
    assert len(times) >= 2 * len(KILL_OFFSETS) + 2
