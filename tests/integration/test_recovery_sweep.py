"""The recovery sweep in worker processes: a broker emptied mid-run loses no workflow."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from wfcore import WorkflowStatus
from wfcore.errors import ConfigurationError
from wfcore_dramatiq import App


def test_workflows_finish_after_the_broker_loses_every_message(
    make_app: Callable[..., App],
) -> None:
    # Given 20 workflows waiting on children that sleep, with a fast recovery sweep
    app = make_app(recovery_interval=0.2, stale_after=0.5, worker_threads=4)

    @app.task
    def napper(i: int) -> int:
        napper.wf.sleep(1)
        return i

    @app.task
    def flow(i: int) -> int:
        return int(flow.wf.execute_task(napper, i).result) * 2

    handles = [flow.send_with_options(args=(i,)) for i in range(20)]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        statuses = {h.status() for h in handles}
        if statuses == {WorkflowStatus.SUSPENDED}:
            break
        time.sleep(0.05)
    # When every queued and delayed message is dropped (a broker restarted empty)
    app.broker.flush_all()
    # Then the sweep re-enqueues what can move and every workflow finishes
    assert [h.result(timeout=30) for h in handles] == [2 * i for i in range(20)]


def test_app_recover_runs_one_sweep(make_app: Callable[..., App]) -> None:
    app = make_app(recovery_interval=0, stale_after=0)

    @app.task
    def flow() -> str:
        return "ok"

    handle = flow.send_with_options()
    assert handle.result(timeout=10) == "ok"
    assert app.recover() == []


def test_a_task_running_longer_than_stale_after_runs_once(make_app: Callable[..., App]) -> None:
    # Given a fast sweep that takes 0.5 s without progress for a lost run, and a task body
    # that takes three times that
    app = make_app(recovery_interval=0.2, stale_after=0.5, worker_threads=2)
    runs: list[int] = []

    @app.task
    def slow() -> int:
        runs.append(slow.wf.attempt)
        time.sleep(1.5)
        return len(runs)

    # When it runs to the end
    handle = slow.send_with_options()
    # Then the worker's marks kept the sweep from sending it again: one body run, one attempt
    assert handle.result(timeout=10) == 1
    assert runs == [1]


def test_stale_after_must_be_longer_than_the_sweep_interval(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="stale_after"):
        App(store=f"sqlite:///{tmp_path / 'x.db'}", recovery_interval=30, stale_after=30)


def test_a_retry_backing_off_longer_than_stale_after_is_not_sent_early(
    make_app: Callable[..., App],
) -> None:
    # Given a fast sweep, and a task that fails twice with Dramatiq backoffs of 0.4-0.8 s and
    # then 0.8-1.6 s, longer than stale_after
    app = make_app(recovery_interval=0.1, stale_after=0.3, worker_threads=2)
    runs: list[float] = []

    @app.task(min_backoff=400, max_backoff=5000, max_retries=5)
    def flaky() -> int:
        runs.append(time.monotonic())
        if len(runs) < 3:
            raise ConnectionError("upstream down")
        return len(runs)

    # When it runs to success
    handle = flaky.send_with_options()
    # Then the body ran once per Dramatiq attempt, each after its backoff: the sweep did not
    # send the waiting invocation again in between
    assert handle.result(timeout=15) == 3
    assert len(runs) == 3
    assert [round(b - a, 1) >= 0.4 for a, b in itertools.pairwise(runs)] == [True, True]


def test_a_long_step_runs_once_while_another_process_sweeps(
    make_app: Callable[..., App], tmp_path: Path
) -> None:
    # Given a worker that sweeps nothing itself (recovery_interval=0) and a sweep elsewhere
    # (here: app.recover() every 0.1 s) that takes 1 s without progress for a lost run, and
    # a wf.deterministic step that takes 3 s
    app = make_app(recovery_interval=0, stale_after=1.0, worker_threads=4)
    calls = tmp_path / "calls"

    def charge() -> str:
        with calls.open("a") as f:
            f.write("x")
        time.sleep(3)
        return "charged"

    @app.task
    def pay() -> str:
        return str(pay.wf.deterministic("charge", charge))

    handle = pay.send_with_options()
    resent: list[object] = []
    deadline = time.monotonic() + 20
    while handle.status() is not WorkflowStatus.COMPLETED and time.monotonic() < deadline:
        resent += app.recover()
        time.sleep(0.1)
    # Then the worker's heartbeats kept the step from being sent again: it ran once
    assert handle.result(timeout=10) == "charged"
    assert calls.read_text() == "x"
    assert resent == []
