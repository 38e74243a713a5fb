"""Schedules on the embedded App, in real time (StubBroker + in-process worker threads)."""

from __future__ import annotations

import itertools
import time
from datetime import datetime
from pathlib import Path

from wfcore import WorkflowStatus
from wfcore.schedules import SCHEDULER_TASK, send_command
from wfcore_dramatiq import App


def _wait_for(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)


def test_every_second_starts_workflows_that_complete(tmp_path: Path) -> None:
    app = App(store=f"sqlite:///{tmp_path / 's.sqlite3'}", worker_threads=2)
    try:

        @app.task
        def ping(n: int) -> int:
            return n + 1

        wid = app.schedule(ping, every="1s", args=(41,), schedule_id="ping")
        assert wid == "schedule-ping"
        app.start_worker()

        def done() -> list[str]:
            return [
                w.workflow_id
                for w in app.store.list_workflows(
                    workflow_type="ping", status=WorkflowStatus.COMPLETED
                )
            ]

        _wait_for(lambda: len(done()) >= 2, timeout=10)
        assert len(done()) >= 2
        assert {app.handle(w).result(timeout=5) for w in done()} == {42}
        keys = [w.idempotency_key for w in app.store.list_workflows(workflow_type="ping")]
        assert len(keys) == len(set(keys))  # one workflow per fire time
        send_command(app.engine, "ping", "delete")
        _wait_for(
            lambda: app.store.get_workflow(wid).status is WorkflowStatus.COMPLETED,  # type: ignore[union-attr]
            timeout=5,
        )
        assert app.handle(wid).result(timeout=5) == "deleted"
        count = len(app.store.list_workflows(workflow_type="ping"))
        time.sleep(1.5)
        assert len(app.store.list_workflows(workflow_type="ping")) == count  # no more fires
        assert len(app.store.list_workflows(workflow_type=SCHEDULER_TASK)) == 1
    finally:
        app.close()


def test_a_restarted_app_goes_on_firing_and_catches_up(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite3'}"

    def make() -> App:
        app = App(store=url, worker_threads=2, recovery_interval=0.2, stale_after=0.5)

        @app.task
        def beat() -> str:
            return "beat"

        app.schedule(beat, every="1s", schedule_id="beat", catchup_window="1h", overlap="allow")
        return app

    first = make()
    try:
        _wait_for(lambda: len(first.store.list_workflows(workflow_type="beat")) >= 1, 10)
    finally:
        first.close()  # the worker dies: the scheduler's pending wake-up is lost with it
    before = len(first_keys := _keys(url))
    assert before >= 1
    time.sleep(2.2)  # fire times pass while no worker runs
    second = make()
    try:
        second.recover()  # the sweep re-sends the schedule's lost wake-up
        _wait_for(lambda: len(_keys(url)) >= before + 3, 10)
        keys = _keys(url)
        assert len(keys) >= before + 3  # missed fire times (within the window) started too
        assert len(keys) == len(set(keys))
        assert set(first_keys) <= set(keys)
        # No gap: the fire times that passed while no worker ran were started on recovery.
        times = sorted(datetime.fromisoformat(k.removeprefix("schedule:beat:")) for k in keys)
        gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(times)}
        assert gaps == {1.0}
    finally:
        second.close()


def _keys(url: str) -> list[str]:
    from wfcore.store import open_store

    store = open_store(url)
    try:
        return [w.idempotency_key or "" for w in store.list_workflows(workflow_type="beat")]
    finally:
        store.close()
