"""Schedules on the LocalRunner's controlled clock: fire times, overlap, catch-up, control."""

from __future__ import annotations

import pytest

from wfcore import LocalRunner, Task, TaskSpec, WorkflowStatus, current
from wfcore._identity import run_of
from wfcore.errors import ConfigurationError
from wfcore.schedules import (
    SCHEDULER_TASK,
    Schedule,
    _workflow,
    create_schedule,
    fire,
    fire_key,
    list_schedules,
    send_command,
)
from wfcore.store.memory import MemoryStore


def _started(r: LocalRunner, task_name: str) -> list[str]:
    return sorted(
        w.idempotency_key or ""
        for w in r.store.list_workflows(workflow_type=task_name, limit=10_000)
    )


def _make(store: MemoryStore | None = None) -> tuple[LocalRunner, Task[..., int], Task[..., str]]:
    r = LocalRunner(store)

    @r.task(name="tick")
    def tick(n: int) -> int:
        return n

    @r.task(name="slow")
    def slow() -> str:
        current().sleep("25m")  # longer than the 10-minute period: the next fire overlaps
        return "done"

    return r, tick, slow


def test_every_starts_one_workflow_per_fire_time() -> None:
    r, tick, _ = _make()
    r.schedule(tick, every="10m", args=(7,), schedule_id="t")
    r.run_for(3600 + 1)
    keys = _started(r, "tick")
    assert len(keys) == 6
    assert all(k.startswith("schedule:t:") for k in keys)
    results = [r.engine.result(w.workflow_id) for w in r.store.list_workflows(workflow_type="tick")]
    assert results == [7] * 6


def test_cron_fire_times_are_the_cron_ones() -> None:
    r, tick, _ = _make()
    r.schedule(tick, cron="*/15 * * * *", args=(1,), schedule_id="c")
    r.run_for(3600)
    keys = _started(r, "tick")
    assert len(keys) == 4
    assert {k.split("T")[1][3:8] for k in keys} <= {"00:00", "15:00", "30:00", "45:00"}


@pytest.fixture(params=[None, 2], ids=["default_runs", "runs_of_2_turns"])
def run_turns(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """The scheduler's waits per run: the default, or 2 (a continue-as-new every other wait,
    so the state carried from run to run is exercised at every step)."""
    if request.param is not None:
        monkeypatch.setattr(_workflow, "RUN_TURNS", request.param)
    return _workflow.RUN_TURNS


def test_overlap_skip_buffer_one_and_allow(run_turns: int) -> None:
    counts = {}
    for overlap in ("skip", "buffer_one", "allow"):
        r, _, slow = _make()
        # Start 20 s before a 10-minute boundary: the first fire comes at once, so the buffered
        # fire of 30 min (started at the first look after the second run ends, within a poll
        # of 50 min) is inside the hour, and the seventh fire (60 min 20 s) is not.
        r.advance(((-r.now()) % 600 - 20) % 600)
        r.schedule(slow, every="10m", overlap=overlap, schedule_id="s")
        r.run_for(3600 + 1)
        counts[overlap] = len(_started(r, "slow"))
    # 6 fire times in the hour, each run lasts 25 min: skip starts every third fire;
    # buffer_one also starts the fire that waited; allow starts them all.
    assert counts["allow"] == 6
    assert counts["skip"] == 2
    assert counts["skip"] < counts["buffer_one"] < counts["allow"]


def test_catchup_window_starts_recent_missed_fires_and_skips_older() -> None:
    r, tick, _ = _make()
    r.schedule(tick, every="10m", args=(1,), schedule_id="k", catchup_window="30m", overlap="allow")
    r.run_for(1)
    # Workers down for 2 hours: nothing runs, then the wake-up runs late.
    r.advance(2 * 3600)
    r.run_for(1)
    keys = _started(r, "tick")
    # Of the 12 fire times missed, only those within 30 minutes of the recovery started.
    assert len(keys) == 3


def test_pause_resume_delete_and_trigger(run_turns: int) -> None:
    r, tick, _ = _make()
    wid = r.schedule(tick, every="10m", args=(1,), schedule_id="p")
    r.run_for(1)
    send_command(r.engine, "p", "pause")
    r.run_for(3600)
    assert _started(r, "tick") == []
    send_command(r.engine, "p", "trigger")
    r.run_for(1)
    assert len(_started(r, "tick")) == 1
    send_command(r.engine, "p", "resume")
    r.run_for(1800 + 1)
    assert len(_started(r, "tick")) == 4
    ((schedule, record),) = list_schedules(r.engine)
    assert schedule.schedule_id == "p"
    assert record.status is WorkflowStatus.SUSPENDED
    send_command(r.engine, "p", "delete")
    r.run_for(3600)
    assert len(_started(r, "tick")) == 4
    assert r.store.get_workflow(wid).status is WorkflowStatus.COMPLETED  # type: ignore[union-attr]


def test_two_firers_on_one_store_start_one_workflow_per_fire_time() -> None:
    store = MemoryStore()
    first, tick1, _ = _make(store)
    second, tick2, _ = _make(store)
    first.schedule(tick1, every="10m", args=(1,), schedule_id="two")
    # The second worker declares the same schedule: the same workflow, not a second one.
    second.schedule(tick2, every="10m", args=(1,), schedule_id="two")
    assert len(store.list_workflows(workflow_type=SCHEDULER_TASK)) == 1
    # Both run every message of the schedule, as two workers racing on a redelivered message.
    first.run_for(1)
    second.run_for(1)
    for _ in range(6):
        first.advance(600)
        second.advance(600)
        for ref, _res in list(first.results[-1:]):
            second.engine.run(ref)  # the other firer runs the same wake-up too
        first.run_for(1)
        second.run_for(1)
    keys = _started(first, "tick")
    assert len(keys) == len(set(keys)) >= 6


def test_fire_key_is_the_same_for_every_firer() -> None:
    assert (
        fire_key("a", 600.0) == fire_key("a", 600.0) == "schedule:a:1970-01-01T00:10:00.000+00:00"
    )


def test_bad_definitions_are_refused_with_a_clear_error() -> None:
    r, tick, _ = _make()
    with pytest.raises(ConfigurationError, match="exactly one of cron"):
        r.schedule(tick)
    with pytest.raises(ConfigurationError, match="cron expression"):
        r.schedule(tick, cron="every tuesday")
    with pytest.raises(ConfigurationError, match="overlap must be one of"):
        r.schedule(tick, every="1m", overlap="queue")
    with pytest.raises(ConfigurationError, match="unknown schedule command"):
        send_command(r.engine, "x", "stop")
    r.schedule(tick, every="1m", args=(1,), schedule_id="same")
    with pytest.raises(ConfigurationError, match="other arguments"):
        r.schedule(tick, every="2m", args=(1,), schedule_id="same")


def test_two_engines_firing_the_same_fire_time_start_one_workflow() -> None:
    store = MemoryStore()
    first, _, _ = _make(store)
    second, _, _ = _make(store)
    schedule = Schedule.build(
        "race",
        "tick",
        cron=None,
        every=60,
        args=[3],
        kwargs=None,
        overlap="allow",
        catchup_window=3600,
    )
    started = {
        fire(first.engine, schedule, 120.0, None),
        fire(second.engine, schedule, 120.0, None),
    }
    assert len(started) == 1
    assert len(store.list_workflows(workflow_type="tick")) == 1


def test_a_fire_that_cannot_start_does_not_end_the_schedule(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a schedule of a task this worker does not declare (deployed before its code)
    r, tick, _ = _make()
    r.schedule(tick, every="10m", args=(1,), schedule_id="real")
    ghost = TaskSpec("ghost", lambda: None)
    wid = create_schedule(r.engine, lambda spec: spec, ghost, every="10m", schedule_id="ghost")
    # When its fire times pass
    r.run_for(3600)
    # Then each failed fire is logged and the schedule waits for the next one
    assert "could not start schedule:ghost:" in caplog.text
    assert r.store.get_workflow(wid).status is WorkflowStatus.SUSPENDED  # type: ignore[union-attr]
    assert len(_started(r, "tick")) == 6


def test_a_long_schedule_continues_as_new_and_keeps_each_run_short() -> None:
    r, tick, _ = _make()
    # A day of fires every 10 minutes: 144 fire times, more than one run's worth of waits.
    r.advance(((-r.now()) % 600 - 20) % 600)
    wid = r.schedule(tick, every="10m", args=(3,), schedule_id="long")
    r.run_for(86_400 + 1)
    keys = _started(r, "tick")
    assert len(keys) == len(set(keys)) == 144  # each fire time once, none lost across runs
    history = r.engine.history(wid)
    runs = [e.value["run"] for e in history if e.kind == "workflow_continued_as_new"]
    assert runs == []  # 145 waits: the first run's RUN_TURNS (200) are not used up
    r.run_for(86_400)
    runs = [e.value["run"] for e in r.engine.history(wid) if e.kind == "workflow_continued_as_new"]
    assert runs == [2]
    record = r.store.get_workflow(wid)
    assert record is not None
    assert record.status is WorkflowStatus.SUSPENDED
    assert run_of(record.root_invocation_id)[1] == runs[-1]
    # The running root's own history holds one run's waits, not the whole two days'.
    snap = r.store.load(wid, record.root_invocation_id, claim=False)
    assert snap is not None
    assert len(snap.entries) < 8 * (288 - _workflow.RUN_TURNS + 1)
    assert len(_started(r, "tick")) == 288


def test_a_schedule_recorded_before_runs_existed_keeps_one_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Record the first waits the way the earlier scheduler did (no patch marker), then let
    # the current code resume it: it replays that history and never continues as new.
    r, tick, _ = _make()
    monkeypatch.setattr(_workflow, "RUN_TURNS", 2)

    class _Earlier:
        def __getattr__(self, name: str) -> object:
            return getattr(current(), name)

        def patched(self, change_id: str) -> bool:
            return False

    monkeypatch.setattr(_workflow, "current", _Earlier)
    wid = r.schedule(tick, every="10m", args=(1,), schedule_id="old")
    r.run_for(3 * 600)
    monkeypatch.setattr(_workflow, "current", current)
    r.run_for(6 * 600)
    assert len(_started(r, "tick")) == 9
    kinds = [e.kind for e in r.engine.history(wid)]
    assert "workflow_continued_as_new" not in kinds
    record = r.store.get_workflow(wid)
    assert record is not None
    assert run_of(record.root_invocation_id)[1] == 1
