"""What a held history keeps for children replayed through the fast path of execute_task, and
what that fast path still checks."""

from __future__ import annotations

import pytest

from wfcore import LocalRunner
from wfcore._history_cache import HeldHistory
from wfcore.errors import NonDeterminismError, WorkflowFailedError


def _held(runner: LocalRunner, workflow_id: str) -> HeldHistory:
    """The one history the runner's engine holds for ``workflow_id``."""
    [held] = [h for (wf, _), h in runner.engine.histories._held.items() if wf == workflow_id]
    return held


def test_children_replayed_through_the_fast_path_keep_no_decoded_copies() -> None:
    # Given a workflow that ran 20 sequential children and now sleeps, its history held
    runner = LocalRunner()

    @runner.task
    def child(i: int) -> int:
        return i

    @runner.task
    def chain() -> int:
        wf = chain.wf
        total: int = sum(wf.execute_task(child, i).result for i in range(20))
        wf.sleep("1h")
        return total

    workflow_id = runner.start(chain)
    # When it has run up to the sleep (every child replayed by the later resumes)
    runner.run_for(60)
    held = _held(runner, workflow_id)
    # Then every child is kept only as (task, outcome, result) for the fast path:
    # its decoded entry and decoded outcome were let go
    assert len(held.finished) == 20
    assert sum(d is not None for d in held.decoded) <= 2
    assert len(held.results) <= 2
    # And the workflow still completes with the right result
    runner.run_until_idle()
    assert runner.engine.result(workflow_id) == sum(range(20))


def test_a_changed_child_task_at_a_position_the_fast_path_knows_is_still_detected() -> None:
    # Given a workflow whose held history has replayed 5 children through the fast path,
    # now sleeping
    runner = LocalRunner()
    code = {"second": "child"}

    @runner.task
    def child(i: int) -> int:
        return i

    @runner.task
    def other(i: int) -> int:
        return -i

    tasks = {"child": child, "other": other}

    @runner.task
    def chain() -> int:
        wf = chain.wf
        total = 0
        for i in range(5):
            task = tasks[code["second"]] if i == 1 else child
            total += wf.execute_task(task, i).result
        wf.sleep("1h")
        return total

    workflow_id = runner.start(chain)
    runner.run_for(60)
    held = _held(runner, workflow_id)
    assert len(held.finished) >= 4
    # When the code now starts another task at the second position and the sleep fires
    code["second"] = "other"
    runner.run_until_idle()
    # Then the replay reports the divergence there instead of returning the recorded result
    with pytest.raises(WorkflowFailedError, match="NonDeterminismError"):
        runner.engine.result(workflow_id)
    error = runner.results[-1][1].error
    assert isinstance(error, NonDeterminismError)
    assert error.seq == 1
