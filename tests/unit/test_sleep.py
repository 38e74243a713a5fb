"""Durable sleep: suspends without a worker, hops, fires once, keeps utc_now after it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from wfcore import LocalRunner, RunStatus
from wfcore._durations import to_seconds
from wfcore.errors import ConfigurationError, WorkflowFailedError


@pytest.mark.parametrize(
    ("duration", "seconds"),
    [
        ("90s", 90),
        ("5m", 300),
        ("2h", 7200),
        ("1d", 86400),
        ("1h30m", 5400),
        ("1d2h3m4s", 93784),
        ("0.5s", 0.5),
        (12, 12),
        (2.5, 2.5),
        (timedelta(minutes=2), 120),
    ],
)
def test_durations(duration: Any, seconds: float) -> None:
    assert to_seconds(duration) == seconds


@pytest.mark.parametrize("duration", ["", "abc", "5 minutes", "1m1h", -1, True, None, float("nan")])
def test_bad_durations_are_refused(duration: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"wf\.sleep"):
        to_seconds(duration)


def test_a_day_long_sleep_suspends_hops_and_resumes_without_waiting() -> None:
    # Given a workflow that sleeps one day between two clock readings
    runner = LocalRunner()
    body_runs: list[int] = []

    @runner.task
    def flow() -> tuple[datetime, datetime]:
        body_runs.append(1)
        before = flow.wf.utc_now()
        flow.wf.sleep("1d")
        return before, flow.wf.utc_now()

    # When it runs to the end
    start = runner.now()
    before, after = runner.run(flow)
    # Then a day passed on the runner's clock, in hops of at most 15 minutes, each a suspension
    assert after - before >= timedelta(days=1)
    assert runner.now() - start >= 86400
    statuses = [r.status for _, r in runner.results]
    assert statuses.count(RunStatus.SUSPENDED) == 96  # 24 h / 15 min
    assert statuses[-1] is RunStatus.COMPLETED
    assert len(body_runs) == 97


def test_sleep_until_an_aware_time_and_utc_now_after_it() -> None:
    runner = LocalRunner()
    target = datetime.fromtimestamp(runner.now() + 3600, timezone(timedelta(hours=2)))

    @runner.task
    def flow() -> datetime:
        flow.wf.sleep_until(target)
        return flow.wf.utc_now()

    assert runner.run(flow) >= target


def test_naive_datetime_is_refused_with_a_clear_error() -> None:
    runner = LocalRunner()

    @runner.task
    def flow() -> None:
        flow.wf.sleep_until(datetime(2030, 1, 1))

    workflow_id = runner.start(flow)
    runner.run_until_idle()
    with pytest.raises(WorkflowFailedError, match="naive datetime"):
        runner.engine.result(workflow_id)


def test_duplicated_wake_message_resumes_once() -> None:
    # Given a workflow sleeping 10 s, then starting a child
    runner = LocalRunner()
    children: list[int] = []

    @runner.task
    def child() -> int:
        children.append(1)
        return 1

    @runner.task
    def flow() -> int:
        flow.wf.sleep(10)
        return int(flow.wf.execute_task(child).result)

    workflow_id = runner.start(flow)
    assert runner.step() is not None  # suspends on the timer
    _, _, wake = runner._timers[0]
    runner.wake(wake, 10)  # the broker delivers the wake-up twice
    # When both wake-ups run
    runner.run_until_idle()
    # Then the child was started and ran once, and the workflow completed once
    assert children == [1]
    assert runner.engine.result(workflow_id) == 1
    assert [e.kind for e in runner.engine.history(workflow_id)].count("start_task") == 1


def test_replay_of_a_finished_sleep_does_not_sleep_again() -> None:
    runner = LocalRunner()

    @runner.task
    def child() -> int:
        return 1

    @runner.task
    def flow() -> int:
        flow.wf.sleep("1h")
        return int(flow.wf.execute_task(child).result)

    start = runner.now()
    assert runner.run(flow) == 1
    # One hour of hops, and no second hour for the replay after the child.
    assert 3600 <= runner.now() - start < 3600 + 60
    assert datetime.fromtimestamp(runner.now(), UTC) > datetime.now(UTC)
