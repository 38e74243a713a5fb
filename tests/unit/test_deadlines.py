"""Workflow deadlines (max_duration): a workflow past it fails, even while suspended."""

from __future__ import annotations

import pytest

from wfcore import LocalRunner, WorkflowStatus
from wfcore.errors import ConfigurationError, WorkflowFailedError


def test_a_suspended_workflow_fails_at_its_deadline() -> None:
    # Given a workflow allowed one hour that sleeps a day
    runner = LocalRunner()

    @runner.task(max_duration=3600)
    def flow() -> str:
        flow.wf.sleep("1d")
        return "woke"

    start = runner.now()
    workflow_id = runner.start(flow)
    # When time runs
    runner.run_until_idle()
    # Then it failed at the deadline with a clear error, not after the day
    with pytest.raises(WorkflowFailedError, match="max_duration of 3600 s") as info:
        runner.engine.result(workflow_id)
    assert info.value.error_type == "wfcore.errors.DeadlineExceededError"
    assert 3600 <= runner.now() - start < 3600 + 60


def test_deadline_cancels_child_workflows_and_start_option_overrides() -> None:
    runner = LocalRunner()

    @runner.task(force_new_workflow=True)
    def slow_child() -> str:
        slow_child.wf.sleep("2h")
        return "done"

    @runner.task
    def flow() -> str:
        return str(flow.wf.execute_task(slow_child).result)

    record, _ = runner.engine.start(flow.spec, max_duration=600)
    runner.run_until_idle()
    assert runner.engine.workflow(record.workflow_id).status is WorkflowStatus.FAILED
    [child] = runner.store.child_workflows(record.workflow_id)
    assert runner.engine.workflow(child.workflow_id).status is WorkflowStatus.CANCELLED


def test_a_workflow_within_its_deadline_completes() -> None:
    runner = LocalRunner()

    @runner.task(max_duration=7200)
    def flow() -> str:
        flow.wf.sleep("1h")
        return "woke"

    assert runner.run(flow) == "woke"


@pytest.mark.parametrize("bad", [0, -5, "1h", float("inf"), True])
def test_bad_max_duration_is_refused(bad: object) -> None:
    runner = LocalRunner()

    @runner.task
    def flow() -> None:
        return None

    with pytest.raises(ConfigurationError, match="max_duration"):
        runner.engine.start(flow.spec, max_duration=bad)  # type: ignore[arg-type]
