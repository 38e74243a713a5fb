"""Replay-aware logging and ``wf.patched`` versioning."""

from __future__ import annotations

import logging

import pytest

from wfcore import LocalRunner, RunStatus


def test_wf_logger_does_not_repeat_lines_on_replay(caplog: pytest.LogCaptureFixture) -> None:
    # Given a workflow that logs before and after waiting on a child
    runner = LocalRunner()

    @runner.task
    def child() -> int:
        return 1

    @runner.task
    def flow() -> None:
        flow.wf.logger.info("before child")
        flow.wf.execute_task(child)
        flow.wf.logger.info("after child")

    # When it runs (suspends once, then replays)
    with caplog.at_level(logging.INFO, logger="wfcore.task"):
        workflow_id = runner.start(flow)
        runner.run_until_idle()
    # Then each line was logged once, with the invocation's ids in extra
    lines = [r for r in caplog.records if r.name.startswith("wfcore.task")]
    assert [r.getMessage() for r in lines] == ["before child", "after child"]
    first = lines[0]
    assert first.__dict__["workflow_id"] == workflow_id
    assert first.__dict__["invocation_id"] == workflow_id
    assert first.__dict__["task"] == flow.spec.name
    assert (first.__dict__["seq"], first.__dict__["attempt"]) == (0, 1)
    assert lines[1].__dict__["attempt"] == 2


def test_library_does_not_configure_the_root_logger() -> None:
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    runner = LocalRunner()

    @runner.task
    def flow() -> None:
        flow.wf.logger.warning("hello")

    runner.run(flow)
    assert (list(root.handlers), root.level) == before


def test_patched_takes_new_branch_on_new_runs_and_old_branch_on_old_histories() -> None:
    # Given a workflow recorded by the old code, suspended on a child
    runner = LocalRunner()
    code = {"new": False}
    branches: list[str] = []

    @runner.task
    def child() -> int:
        return 1

    @runner.task
    def flow() -> list[str]:
        wf = flow.wf
        wf.random()
        if code["new"] and wf.patched("fee-rule"):
            branches.append("new")
            wf.deterministic("new-fee", lambda: 2)
        else:
            branches.append("old")
        wf.execute_task(child)
        return branches

    old_id = runner.start(flow)
    first = runner.step()
    assert first is not None
    assert first.status is RunStatus.SUSPENDED
    # When the guarded change is deployed and both the old and a new workflow run
    code["new"] = True
    runner.run_until_idle()
    new_id = runner.start(flow)
    runner.run_until_idle()
    # Then the old workflow kept the old branch on replay, the new one took the new branch
    assert runner.engine.result(old_id) == ["old", "old"]
    assert runner.engine.result(new_id) == ["old", "old", "new", "new"]


def test_unguarded_change_breaks_the_old_history() -> None:
    runner = LocalRunner()
    code = {"new": False}

    @runner.task
    def child() -> int:
        return 1

    @runner.task
    def flow() -> None:
        wf = flow.wf
        if code["new"]:
            wf.deterministic("new-fee", lambda: 2)
        wf.execute_task(child)

    old_id = runner.start(flow)
    runner.step()
    code["new"] = True
    runner.run_until_idle()
    assert runner.engine.workflow(old_id).status.value == "FAILED"
