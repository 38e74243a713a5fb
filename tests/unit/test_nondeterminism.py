"""Non-determinism detection: a replay that meets another operation must fail loudly."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from wfcore import LocalRunner, RunStatus, WorkflowContext
from wfcore.errors import NonDeterminismError, WorkflowFailedError

Version = Callable[[WorkflowContext], None]


def _run_changed(before: Version, after: Version) -> tuple[LocalRunner, str, NonDeterminismError]:
    """Run ``before``, suspend on a child, swap in ``after``, replay; the divergence raised."""
    runner = LocalRunner()
    code = {"body": before}
    raised: list[NonDeterminismError] = []

    @runner.task
    def child() -> int:
        return 1

    @runner.task
    def flow() -> str:
        wf = flow.wf
        try:
            code["body"](wf)
        except NonDeterminismError as exc:
            raised.append(exc)
            raise
        wf.execute_task(child)
        return "done"

    workflow_id = runner.start(flow)
    first = runner.step()
    assert first is not None
    assert first.status is RunStatus.SUSPENDED
    code["body"] = after
    runner.run_until_idle()
    with pytest.raises(WorkflowFailedError, match="NonDeterminismError"):
        runner.engine.result(workflow_id)
    if raised:
        return runner, workflow_id, raised[0]
    # Divergences found at the end of the code surface through the run result instead.
    error = runner.results[-1][1].error
    assert isinstance(error, NonDeterminismError)
    return runner, workflow_id, error


def test_inserted_operation_is_detected() -> None:
    _, workflow_id, error = _run_changed(
        lambda wf: (wf.random(), None)[1],
        lambda wf: (wf.uuid(), wf.random(), None)[2],
    )
    assert error.seq == 0
    assert (error.recorded, error.attempted) == ("random()", "uuid()")
    assert workflow_id in str(error)
    assert "wf.patched" in str(error)


def test_deleted_operation_is_detected() -> None:
    _, _, error = _run_changed(
        lambda wf: (wf.random(), wf.uuid(), None)[2],
        lambda wf: (wf.random(), None)[1],
    )
    # The code now starts the child where the history recorded uuid().
    assert error.seq == 1
    assert (error.recorded, error.attempted) == (
        "uuid()",
        "start_task('tests.unit.test_nondeterminism._run_changed.<locals>.child')",
    )


def test_deleted_trailing_operation_is_detected_at_the_end() -> None:
    # Given code whose last operations (including the child) disappear
    runner = LocalRunner()
    code = {"steps": 2}

    @runner.task
    def child() -> int:
        return 1

    @runner.task
    def flow() -> str:
        flow.wf.random()
        if code["steps"] == 2:
            flow.wf.execute_task(child)
        return "done"

    workflow_id = runner.start(flow)
    runner.step()
    code["steps"] = 1
    runner.run_until_idle()
    with pytest.raises(WorkflowFailedError, match="operations were removed") as info:
        runner.engine.result(workflow_id)
    assert "seq 1" in str(info.value)


def test_reordered_operations_are_detected() -> None:
    def before(wf: WorkflowContext) -> None:
        wf.set_data("a", 1)
        wf.utc_now()

    def after(wf: WorkflowContext) -> None:
        wf.utc_now()
        wf.set_data("a", 1)

    _, _, error = _run_changed(before, after)
    assert error.seq == 0
    assert (error.recorded, error.attempted) == ("set_data('a')", "utc_now()")


def test_renamed_operation_is_detected() -> None:
    _, _, error = _run_changed(
        lambda wf: (wf.deterministic("charge", lambda: 1), None)[1],
        lambda wf: (wf.deterministic("refund", lambda: 1), None)[1],
    )
    assert (error.recorded, error.attempted) == (
        "deterministic('charge')",
        "deterministic('refund')",
    )
    assert "invocation" in str(error)
    assert "seq 0" in str(error)


def test_swallowed_divergence_still_fails_the_invocation() -> None:
    # Given code that catches every Exception around a diverging operation
    runner = LocalRunner()
    code = {"v": 1}

    @runner.task
    def child() -> int:
        return 1

    @runner.task
    def flow() -> str:
        try:
            if code["v"] == 1:
                flow.wf.random()
            else:
                flow.wf.uuid()
        except Exception:
            pass
        flow.wf.execute_task(child)
        return "done"

    workflow_id = runner.start(flow)
    runner.step()
    code["v"] = 2
    runner.run_until_idle()
    # Then the divergence is sticky: the workflow fails instead of running on misaligned
    with pytest.raises(WorkflowFailedError, match="NonDeterminismError"):
        runner.engine.result(workflow_id)
