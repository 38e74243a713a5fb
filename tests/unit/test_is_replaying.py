"""``wf.is_replaying``: True exactly while code re-executes what an earlier run executed."""

from __future__ import annotations

import logging

import pytest

from wfcore import LocalRunner, Replayer, WorkflowCancelled


def _verify(runner: LocalRunner, workflow_id: str) -> None:
    result = Replayer(runner._lookup, codec=runner.engine.codec).replay(runner.store, workflow_id)
    assert result.ok, result.divergence


def test_a_resume_replays_up_to_the_wait_it_suspended_at() -> None:
    # Given a workflow that notes is_replaying around the wait it suspends at
    runner = LocalRunner()
    seen: list[tuple[str, bool]] = []

    @runner.task
    def child() -> int:
        return 1

    @runner.task
    def flow() -> None:
        wf = flow.wf
        seen.append(("top", wf.is_replaying))
        handle = wf.start_task(child)
        seen.append(("before wait", wf.is_replaying))
        handle.result()
        seen.append(("after wait", wf.is_replaying))
        wf.deterministic("step", lambda: 1)
        seen.append(("after step", wf.is_replaying))

    # When it runs (suspends on the child, then resumes)
    workflow_id = runner.start(flow)
    runner.run_until_idle()
    # Then the resume replays what the first run executed, up to and including its wait
    assert seen == [
        ("top", False),
        ("before wait", False),
        ("top", True),
        ("before wait", True),
        ("after wait", False),
        ("after step", False),
    ]
    # And verification replays everything
    seen.clear()
    _verify(runner, workflow_id)
    assert seen == [
        ("top", True),
        ("before wait", True),
        ("after wait", True),
        ("after step", True),
    ]


def test_a_resume_after_a_timer_is_new_past_the_timer() -> None:
    runner = LocalRunner()
    seen: list[tuple[str, bool]] = []

    @runner.task
    def flow() -> None:
        wf = flow.wf
        wf.random()
        seen.append(("before sleep", wf.is_replaying))
        wf.sleep(10)  # one hop: the resume after it is the first
        seen.append(("after sleep", wf.is_replaying))

    runner.start(flow)
    runner.run_until_idle()
    assert seen == [("before sleep", False), ("before sleep", True), ("after sleep", False)]


def test_lines_logged_before_the_suspending_wait_are_not_repeated(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runner = LocalRunner()

    @runner.task
    def child() -> int:
        return 1

    @runner.task
    def flow() -> None:
        handle = flow.wf.start_task(child)
        flow.wf.logger.info("child started")
        handle.result()
        flow.wf.logger.info("child done")

    with caplog.at_level(logging.INFO, logger="wfcore.task"):
        runner.start(flow)
        runner.run_until_idle()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("wfcore.task")]
    assert lines == ["child started", "child done"]


def test_cleanup_after_a_cancellation_at_the_suspending_wait_is_new() -> None:
    # Given a workflow suspended on a sleeping child, with cleanup code for a cancellation
    runner = LocalRunner()
    seen: list[bool] = []

    @runner.task
    def child() -> int:
        child.wf.sleep("1h")
        return 1

    @runner.task
    def flow() -> None:
        try:
            flow.wf.execute_task(child)
        except WorkflowCancelled:
            seen.append(flow.wf.is_replaying)
            raise

    workflow_id = runner.start(flow)
    runner.step()
    runner.step()
    # When it is cancelled
    runner.engine.cancel(workflow_id)
    runner.run_until_idle()
    # Then its cleanup ran as new code, once, and the history replays in verification
    assert seen == [False]
    assert runner.engine.workflow(workflow_id).status.value == "CANCELLED"
    _verify(runner, workflow_id)
    assert seen == [False, True]
