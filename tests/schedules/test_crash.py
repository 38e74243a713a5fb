"""A worker that dies around a fire time: recovery fires it again, still one workflow."""

from __future__ import annotations

import pytest

from wfcore import LocalRunner, WorkflowStatus
from wfcore._models import InvocationRecord, QueuePush, WorkflowRecord
from wfcore.store._delegating import DelegatingStore
from wfcore.store.memory import MemoryStore


class PowerCut(SystemExit):
    """The process dies here: nothing after the store call runs."""


class DiesAfterTheFirstStart(DelegatingStore):
    """Dies right after the schedule's first target workflow is stored, before the
    scheduler has recorded that it fired."""

    crashed = False

    def create_workflow(
        self, workflow: WorkflowRecord, root: InvocationRecord, *, push: QueuePush | None = None
    ) -> tuple[WorkflowRecord, bool]:
        stored = self.inner.create_workflow(workflow, root, push=push)
        if workflow.workflow_type == "tick" and not self.crashed:
            self.crashed = True
            raise PowerCut
        return stored


def test_a_worker_killed_between_start_and_record_starts_one_workflow() -> None:
    store = DiesAfterTheFirstStart(MemoryStore())
    runner = LocalRunner(store)

    @runner.task(name="tick")
    def tick() -> str:
        return "tick"

    runner.schedule(tick, every="10m", schedule_id="t", overlap="allow")
    with pytest.raises(PowerCut):
        runner.run_for(600)
    (crashed,) = store.list_workflows(workflow_type="tick")  # stored, never sent
    # A new worker: its recovery sweep re-sends the scheduler's run the dead one held, and
    # the target's first message, which the dead one never sent.
    restarted = LocalRunner(store)
    again = restarted.task(name="tick")(tick.spec.fn)
    restarted.schedule(again, every="10m", schedule_id="t", overlap="allow")
    restarted.advance(600 + 120)  # the same clock as the dead worker's, two minutes on
    restarted.engine.recover(stale_after=60)
    restarted.run_for(1800)
    ticks = store.list_workflows(workflow_type="tick")
    keys = [w.idempotency_key for w in ticks]
    assert len(keys) == len(set(keys)) >= 4  # one per fire time: 10-minute steps, no gap
    assert crashed.idempotency_key in keys  # the fire of the crash was not started again
    assert all(w.status is WorkflowStatus.COMPLETED for w in ticks)
