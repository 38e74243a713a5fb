"""Cancellation: persistent, reaches descendants, skips queued work, lets cleanup run."""

from __future__ import annotations

import pytest

from wfcore import LocalRunner, RunStatus, Task, WorkflowCancelled, WorkflowStatus
from wfcore._models import Batch, CommitResult, InvocationRecord, QueuePush, WorkflowRecord
from wfcore._replay import Replayer
from wfcore.errors import WorkflowCancelledError, WorkflowNotFoundError
from wfcore.store import DelegatingStore
from wfcore.store.memory import MemoryStore


def test_cancel_wakes_a_sleeping_workflow_and_cleanup_runs_once() -> None:
    # Given a workflow sleeping for a day, with cleanup in `finally` that starts a child
    runner = LocalRunner()
    cleanups: list[str] = []
    seen: list[str] = []

    @runner.task
    def release(order_id: str) -> str:
        cleanups.append(order_id)
        return "released"

    @runner.task
    def flow(order_id: str) -> str:
        wf = flow.wf
        try:
            wf.sleep("1d")
            return "shipped"
        except WorkflowCancelled:
            seen.append("cancelled")
            raise
        finally:
            wf.execute_task(release, order_id)  # compensation still uses wf operations

    workflow_id = runner.start(flow, "ORD-1")
    assert runner.step() is not None  # suspends on the timer
    # When it is cancelled
    assert runner.engine.cancel(workflow_id) is True
    runner.run_until_idle()
    # Then cleanup ran exactly once, the workflow is CANCELLED and result() says so
    assert cleanups == ["ORD-1"]
    assert seen == ["cancelled", "cancelled"]  # delivered at the same point on the replay
    assert runner.engine.workflow(workflow_id).status is WorkflowStatus.CANCELLED
    with pytest.raises(WorkflowCancelledError, match=workflow_id):
        runner.engine.result(workflow_id)
    # And cancelling again is a clear no-op
    assert runner.engine.cancel(workflow_id) is False


def test_cancel_reaches_child_workflows_and_skips_queued_children() -> None:
    # Given a parent with a sleeping child workflow and a plain child still queued
    runner = LocalRunner()
    ran: list[str] = []

    @runner.task(force_new_workflow=True)
    def sub() -> str:
        ran.append("sub started")
        sub.wf.sleep("2h")
        ran.append("sub finished")
        return "sub"

    @runner.task
    def plain() -> str:
        ran.append("plain")
        return "plain"

    @runner.task
    def parent() -> list[str]:
        wf = parent.wf
        handles = [wf.start_task(sub), wf.start_task(plain)]
        return [r.result for r in wf.wait(*handles)]

    workflow_id = runner.start(parent)
    runner.step()  # parent starts both children and suspends
    runner.step()  # the child workflow starts and sleeps; the plain child is still queued
    children = runner.store.child_workflows(workflow_id)
    # When the parent is cancelled
    runner.engine.cancel(workflow_id)
    runner.run_until_idle()
    # Then the child workflow was cancelled too, the queued child never ran, and all ended
    assert "sub started" in ran
    assert "sub finished" not in ran
    assert "plain" not in ran
    assert len(children) == 1
    statuses = {
        runner.engine.workflow(workflow_id).status,
        runner.engine.workflow(children[0].workflow_id).status,
    }
    assert statuses == {WorkflowStatus.CANCELLED}
    skipped = [r for ref, r in runner.results if ref.task_name.endswith("plain")]
    assert [r.status for r in skipped] == [RunStatus.CANCELLED]


def test_a_workflow_may_catch_cancellation_and_finish_normally() -> None:
    runner = LocalRunner()

    @runner.task
    def flow() -> str:
        try:
            flow.wf.sleep(60)
        except WorkflowCancelled:
            return "stopped cleanly"
        return "slept"

    workflow_id = runner.start(flow)
    runner.step()
    runner.engine.cancel(workflow_id)
    runner.run_until_idle()
    assert runner.engine.result(workflow_id) == "stopped cleanly"


def test_except_exception_does_not_swallow_cancellation() -> None:
    runner = LocalRunner()

    @runner.task
    def flow() -> str:
        try:
            flow.wf.sleep(60)
        except Exception:
            return "swallowed"
        return "slept"

    workflow_id = runner.start(flow)
    runner.step()
    runner.engine.cancel(workflow_id)
    runner.run_until_idle()
    assert runner.engine.workflow(workflow_id).status is WorkflowStatus.CANCELLED


def test_cancel_unknown_workflow_is_a_clear_error() -> None:
    with pytest.raises(WorkflowNotFoundError, match="nope"):
        LocalRunner().engine.cancel("nope")


class _CancelBeforeChildCreated(DelegatingStore):
    """Lands a cancellation of the parent (its flag set, its walk of the children over) just
    before the parent's child workflow is created; ``crash`` makes the parent's commits die
    (a worker killed before it recorded the start)."""

    def __init__(self, parent_id: list[str]) -> None:
        super().__init__(MemoryStore())
        self._parent_id = parent_id
        self.crash = False

    def create_workflow(
        self, record: WorkflowRecord, root: InvocationRecord, *, push: QueuePush | None = None
    ) -> tuple[WorkflowRecord, bool]:
        if record.parent_workflow_id is not None:
            self.request_cancel(self._parent_id[0])  # the walk found no child: none yet
        return super().create_workflow(record, root, push=push)

    def commit(self, workflow_id: str, invocation_id: str, batch: Batch) -> CommitResult:
        if self.crash and workflow_id == self._parent_id[0]:
            raise _WorkerKilled
        return super().commit(workflow_id, invocation_id, batch)


class _WorkerKilled(BaseException):
    """The worker process dies here."""


def _parent_and_child(runner: LocalRunner, ran: list[str]) -> Task[[], str]:
    @runner.task(force_new_workflow=True)
    def sub() -> str:
        ran.append("sub")
        return "sub"

    @runner.task
    def flow() -> str:
        handle = flow.wf.start_task(sub)
        return str(flow.wf.wait(handle)[0].result)

    return flow


def test_a_child_workflow_created_while_its_parent_is_cancelled_is_cancelled_too() -> None:
    # Given a parent that starts a child workflow, and a cancellation of the parent whose
    # walk of the children came just before the child was created
    parent_id: list[str] = []
    runner = LocalRunner(_CancelBeforeChildCreated(parent_id))
    ran: list[str] = []
    parent_id.append(runner.start(_parent_and_child(runner, ran)))
    # When everything runs
    runner.run_until_idle()
    # Then the child workflow was cancelled before it ran, and so was the parent
    children = runner.store.child_workflows(parent_id[0])
    assert [c.status for c in children] == [WorkflowStatus.CANCELLED]
    assert ran == []
    assert runner.engine.workflow(parent_id[0]).status is WorkflowStatus.CANCELLED


def test_a_child_workflow_created_under_a_cancel_is_cancelled_even_if_its_parent_dies() -> None:
    # Given a cancellation landing just before a parent creates its child workflow, and the
    # parent's worker killed before it recorded the start (so it never saw the flag)
    parent_id: list[str] = []
    store = _CancelBeforeChildCreated(parent_id)
    runner = LocalRunner(store)
    ran: list[str] = []
    parent_id.append(runner.start(_parent_and_child(runner, ran)))
    store.crash = True
    with pytest.raises(_WorkerKilled):
        runner.step()
    store.crash = False
    # When the recovery sweep finds the unfinished work and everything runs
    assert runner.engine.recover(stale_after=0.0)
    runner.run_until_idle()
    # Then the child workflow never ran its body: it was born cancelled
    children = runner.store.child_workflows(parent_id[0])
    assert [c.status for c in children] == [WorkflowStatus.CANCELLED]
    assert ran == []
    assert runner.engine.workflow(parent_id[0]).status is WorkflowStatus.CANCELLED


def test_cancel_reaches_the_live_children_of_a_finished_child_workflow() -> None:
    # Given a parent whose child workflow started a grandchild workflow (which sleeps) and
    # finished without waiting for it
    runner = LocalRunner()

    @runner.task(force_new_workflow=True)
    def grandchild() -> str:
        grandchild.wf.sleep("1d")
        return "late"

    @runner.task(force_new_workflow=True)
    def child() -> str:
        child.wf.start_task(grandchild)
        return "done"

    @runner.task
    def flow() -> str:
        flow.wf.execute_task(child)
        flow.wf.sleep("1d")
        return "parent"

    workflow_id = runner.start(flow)
    for _ in range(10):
        runner.step()
    (child_wf,) = runner.store.child_workflows(workflow_id)
    (grandchild_wf,) = runner.store.child_workflows(child_wf.workflow_id)
    assert child_wf.status is WorkflowStatus.COMPLETED
    assert grandchild_wf.status is WorkflowStatus.SUSPENDED
    # When the parent is cancelled
    runner.engine.cancel(workflow_id)
    runner.run_until_idle()
    # Then the grandchild, a descendant still sleeping, is cancelled too
    assert runner.engine.workflow(grandchild_wf.workflow_id).status is WorkflowStatus.CANCELLED
    assert runner.engine.workflow(child_wf.workflow_id).status is WorkflowStatus.COMPLETED
    assert runner.engine.workflow(workflow_id).status is WorkflowStatus.CANCELLED


def test_a_wait_cancelled_before_its_children_finished_replays_the_same_way() -> None:
    # Given a parent cancelled while it waits on a child, whose cleanup then waits on another
    # child: the first child's (cancelled) outcome is there on every later replay
    runner = LocalRunner()
    seen: list[str] = []

    @runner.task
    def work() -> str:
        return "work"

    @runner.task
    def release() -> str:
        return "released"

    @runner.task
    def flow() -> str:
        wf = flow.wf
        try:
            return str(wf.execute_task(work).result)
        except WorkflowCancelled:
            seen.append("cancelled")
            wf.execute_task(release)
            raise

    workflow_id = runner.start(flow)
    runner.step()  # the parent records the child and suspends on it
    runner.engine.cancel(workflow_id)
    # When everything runs: the parent's cleanup resumes after the first child's outcome
    runner.run_until_idle()
    # Then every run (first execution and replays) took the cancellation at the wait, and a
    # strict replay of the whole history matches
    assert runner.engine.workflow(workflow_id).status is WorkflowStatus.CANCELLED
    assert len(seen) >= 2
    assert set(seen) == {"cancelled"}
    replay = Replayer(runner.engine.task, codec=runner.engine.codec).replay(
        runner.store, workflow_id
    )
    assert replay.ok, replay.divergence


@pytest.mark.parametrize("body", ["sync", "async"])
def test_a_cancel_that_lands_while_the_run_is_about_to_suspend_still_wakes_it(body: str) -> None:
    # Given a workflow (sync or async body) whose cancel flag is set while it runs, after it
    # loaded its snapshot and before it suspends: the cancel walk saw it RUNNING, so it did
    # not wake it
    runner = LocalRunner()

    @runner.task
    def flow() -> str:
        runner.store.request_cancel(flow.wf.workflow.workflow_id)  # the walk, racing the run
        flow.wf.sleep("1h")
        return "late"

    @runner.task(workflow=True)
    async def aflow() -> str:
        runner.store.request_cancel(aflow.wf.workflow.workflow_id)
        await aflow.wf.sleep("1h")
        return "late"

    workflow_id = runner.start(flow if body == "sync" else aflow)
    # When it runs for a minute of the runner's clock (the hour's timer is not due)
    runner.run_for(60)
    # Then the suspension saw the flag and the cancel was delivered: it did not sleep an hour
    assert runner.engine.workflow(workflow_id).status is WorkflowStatus.CANCELLED
    assert [e.kind for e in runner.engine.history(workflow_id)].count("cancelled") == 1
