"""The recovery sweep re-enqueues invocations whose message was lost, and nothing else."""

from __future__ import annotations

import asyncio
import gc
import threading
import time

from tests.support.engines import single_task_engine
from wfcore import LocalRunner, RunStatus, WorkflowStatus


def _drop_queued(runner: LocalRunner) -> int:
    """Lose every queued and delayed message, as a broker restarted empty would."""
    lost = len(runner._queue) + len(runner._timers)
    runner._queue.clear()
    runner._timers.clear()
    return lost


def test_lost_child_message_and_lost_wake_are_recovered() -> None:
    # Given a parent whose child message is lost right after the parent recorded it
    runner = LocalRunner()

    @runner.task
    def child() -> int:
        return 7

    @runner.task
    def parent() -> int:
        return int(parent.wf.execute_task(child).result)

    workflow_id = runner.start(parent)
    runner.step()  # the parent records the child and suspends
    assert _drop_queued(runner) == 1
    # When the sweep runs: the child comes back
    assert [r.task_name for r in runner.engine.recover(stale_after=0)] == [child.spec.name]
    runner.step()  # the child completes and wakes the parent...
    assert _drop_queued(runner) == 1  # ...but that wake-up is lost too
    # Then the next sweep wakes the parent, which finishes
    assert [r.invocation_id for r in runner.engine.recover(stale_after=0)] == [workflow_id]
    runner.run_until_idle()
    assert runner.engine.result(workflow_id) == 7


def test_lost_timer_wake_is_recovered_only_when_due() -> None:
    runner = LocalRunner()

    @runner.task
    def sleeper() -> str:
        sleeper.wf.sleep("10m")
        return "woke"

    workflow_id = runner.start(sleeper)
    runner.step()
    _drop_queued(runner)
    # Not due yet: a sweep leaves it alone
    assert runner.engine.recover(stale_after=0) == []
    runner.advance(601)
    assert [r.invocation_id for r in runner.engine.recover(stale_after=0)] == [workflow_id]
    runner.run_until_idle()
    assert runner.engine.result(workflow_id) == "woke"


def test_sweep_leaves_waiting_fresh_delayed_and_finished_work_alone() -> None:
    runner = LocalRunner()

    @runner.task
    def slow() -> str:
        slow.wf.sleep("1h")
        return "slow"

    @runner.task
    def waiting() -> str:
        return str(waiting.wf.execute_task(slow).result)

    @runner.task
    def done() -> str:
        return "done"

    runner.run(done)
    waiting_id = runner.start(waiting)
    runner.step()  # waiting suspends on its child
    runner.step()  # the child suspends on its timer
    delayed, _ = runner.engine.start(done.spec, delay=3600)
    # A sweep with a generous bound sees nothing stale; an eager one only finds nothing that
    # can move: the parent waits on an unfinished child, the timer is not due, the start is
    # scheduled for later, and the finished workflow is finished.
    assert runner.engine.recover(stale_after=60) == []
    assert runner.engine.recover(stale_after=0) == []
    assert runner.engine.workflow(waiting_id).status is WorkflowStatus.SUSPENDED
    assert runner.engine.workflow(delayed.workflow_id).status is WorkflowStatus.PENDING


def test_duplicate_recovery_message_is_harmless() -> None:
    runner = LocalRunner()
    runs: list[int] = []

    @runner.task
    def flow() -> int:
        runs.append(1)
        return 1

    workflow_id = runner.start(flow)
    runner.engine.recover(stale_after=0)  # a sweep re-sends the still-queued start message
    runner.run_until_idle()
    assert runner.engine.result(workflow_id) == 1
    assert runs == [1]
    assert [r.status for _, r in runner.results] == [RunStatus.COMPLETED, RunStatus.SKIPPED]


def test_child_that_finished_without_telling_its_parent_is_repaired() -> None:
    # Given a child whose process died after committing its finish, before recording its
    # outcome in the parent, and a broker that lost every message
    runner = LocalRunner()

    @runner.task
    def child() -> int:
        return 5

    @runner.task
    def parent() -> int:
        return int(parent.wf.execute_task(child).result)

    workflow_id = runner.start(parent)
    runner.step()  # the parent suspends on the child
    child_ref = runner._queue[0]
    notify = runner.engine._notify_parent
    runner.engine._notify_parent = lambda inv, outcome: None  # type: ignore[method-assign]
    runner.step()  # the child finishes; its notification is lost with the process
    runner.engine._notify_parent = notify  # type: ignore[method-assign]
    _drop_queued(runner)
    assert runner.store.get_invocation(child_ref.workflow_id, child_ref.invocation_id) is not None
    # When the sweep runs
    runner.engine.recover(stale_after=0)
    runner.run_until_idle()
    # Then the outcome reached the parent, which finished
    assert runner.engine.result(workflow_id) == 5


def test_a_run_longer_than_stale_after_is_not_resent_while_its_worker_marks_it_alive() -> None:
    # Given an invocation whose body is still running, an hour of (virtual) time later
    runner = LocalRunner()
    started, release = threading.Event(), threading.Event()

    @runner.task
    def long_step() -> str:
        started.set()
        release.wait(10)
        return "done"

    workflow_id = runner.start(long_step)
    ref = runner._queue.popleft()
    worker = threading.Thread(target=runner.engine.run, args=(ref,))
    worker.start()
    assert started.wait(10)
    runner.advance(3600)
    try:
        # When its worker marks what it runs as alive, then a sweep runs
        assert runner.engine.heartbeat() == 1
        resent_while_alive = runner.engine.recover(stale_after=60)
        # And when an hour passes without a mark (its worker died)
        runner.advance(3600)
        resent_when_silent = runner.engine.recover(stale_after=60)
    finally:
        release.set()
        worker.join(10)
    # Then only the silent one is taken for lost and re-sent
    assert resent_while_alive == []
    assert [r.invocation_id for r in resent_when_silent] == [workflow_id]
    assert runner.engine.heartbeat() == 0  # nothing runs any more


def test_the_engine_marks_its_runs_alive_by_itself_and_its_thread_ends_with_it() -> None:
    # Given an engine whose heartbeat interval is 50 ms, running a body that takes a while
    started, release = threading.Event(), threading.Event()

    def long_step() -> str:
        started.set()
        release.wait(10)
        return "done"

    engine, queue, spec = single_task_engine(long_step)
    engine._heartbeat_interval = 0.05
    record, _ = engine.start(spec)
    worker = threading.Thread(target=engine.run, args=(queue.sent[0],))
    worker.start()
    assert started.wait(10)
    try:
        first = engine.workflow(record.workflow_id).updated_at
        # When nobody calls heartbeat() for a while
        time.sleep(0.3)
        later = engine.workflow(record.workflow_id).updated_at
    finally:
        release.set()
        worker.join(10)
    # Then the engine's own thread kept the run marked alive
    assert later > first
    beating = [t for t in threading.enumerate() if t.name == "wfcore-heartbeat"]
    assert beating
    # And once the engine is gone, its thread ends too (no thread left behind per engine)
    thread = engine._heartbeat_thread
    assert thread is not None
    del engine, worker
    gc.collect()
    thread.join(2)
    assert not thread.is_alive()


def test_a_lost_timer_wake_of_an_async_body_waiting_on_more_is_recovered_when_due() -> None:
    # Given an async body waiting on a signal that never comes and on a 10-minute sleep
    runner = LocalRunner()

    @runner.task(workflow=True)
    async def either() -> str:
        wf = either.wf
        sleep = asyncio.ensure_future(wf.sleep("10m"))
        signal = asyncio.ensure_future(wf.wait_signal("go"))
        await asyncio.wait({sleep, signal}, return_when=asyncio.FIRST_COMPLETED)
        return "signal" if signal.done() else "timer"

    workflow_id = runner.start(either)
    runner.step()
    _drop_queued(runner)  # its timer's wake-up is lost
    # When a sweep runs before and after the timer is due
    assert runner.engine.recover(stale_after=0) == []
    runner.advance(601)
    # Then the due timer alone is enough to re-send it (the signal is still missing)
    assert [r.invocation_id for r in runner.engine.recover(stale_after=0)] == [workflow_id]
    runner.run_until_idle()
    assert runner.engine.result(workflow_id) == "timer"
