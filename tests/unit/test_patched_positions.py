"""``wf.patched`` wherever a change lands: in the middle of a history, after its last operation
of a finished workflow, and before or after the wait a suspended workflow stopped at.

In each test the old code records a history, the guarded change is deployed, and the history
must verify against the new code; suspended workflows then resume on the new code, complete,
and their final history verifies too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wfcore import LocalRunner, Replayer, RunStatus, StateStore, Task, open_store
from wfcore._history import read_history

BONUS = "deterministic:bonus"


def _verify(runner: LocalRunner, workflow_id: str) -> None:
    result = Replayer(runner._lookup, codec=runner.engine.codec).replay(runner.store, workflow_id)
    assert result.ok, result.divergence


def _operations(runner: LocalRunner, workflow_id: str) -> list[str]:
    """The root invocation's recorded operations, as ``kind:name``."""
    events = read_history(runner.store, runner.engine.codec, workflow_id)
    return [
        f"{e.kind}:{e.name}"
        for e in events
        if e.seq is not None and e.invocation_id == workflow_id and e.kind != "sleep_fired"
    ]


def _suspend(runner: LocalRunner, workflow_id: str) -> None:
    first = runner.step()
    assert first is not None
    assert first.status is RunStatus.SUSPENDED
    assert runner.engine.workflow(workflow_id).status.value == "SUSPENDED"


def _deploy_over_finished(runner: LocalRunner, code: dict[str, bool], flow: Task[..., Any]) -> str:
    """Finish a workflow on the old code, deploy the new one: the history must verify."""
    workflow_id = runner.start(flow)
    runner.run_until_idle()
    code["new"] = True
    _verify(runner, workflow_id)
    return workflow_id


def _deploy_over_suspended(runner: LocalRunner, code: dict[str, bool], flow: Task[..., Any]) -> str:
    """Suspend a workflow on the old code, deploy the new one: the history must verify; then
    resume it to completion on the new code: its final history must verify too."""
    workflow_id = runner.start(flow)
    _suspend(runner, workflow_id)
    code["new"] = True
    _verify(runner, workflow_id)
    runner.run_until_idle()
    _verify(runner, workflow_id)
    return workflow_id


def _new_workflow(runner: LocalRunner, flow: Task[..., Any]) -> str:
    """A workflow run on the new code from the start: it takes the branch, and verifies."""
    workflow_id = runner.start(flow)
    runner.run_until_idle()
    assert BONUS in _operations(runner, workflow_id)
    _verify(runner, workflow_id)
    return workflow_id


# -- finished workflows ------------------------------------------------------------------------


def test_change_after_the_last_operation_of_a_finished_workflow() -> None:
    runner = LocalRunner()
    code = {"new": False}

    @runner.task
    def flow() -> int:
        wf = flow.wf
        total = wf.deterministic("base", lambda: 10)
        if code["new"] and wf.patched("bonus"):
            total += wf.deterministic("bonus", lambda: 1)
        return total

    old_id = _deploy_over_finished(runner, code, flow)
    new_id = _new_workflow(runner, flow)
    assert (runner.engine.result(old_id), runner.engine.result(new_id)) == (10, 11)
    assert _operations(runner, new_id) == ["deterministic:base", "patched:bonus", BONUS]


def test_change_in_the_middle_of_a_finished_workflow() -> None:
    runner = LocalRunner()
    code = {"new": False}

    @runner.task
    def flow() -> int:
        wf = flow.wf
        total = wf.deterministic("base", lambda: 10)
        if code["new"] and wf.patched("bonus"):
            total += wf.deterministic("bonus", lambda: 1)
        return total + wf.deterministic("tail", lambda: 100)

    old_id = _deploy_over_finished(runner, code, flow)
    new_id = _new_workflow(runner, flow)
    assert (runner.engine.result(old_id), runner.engine.result(new_id)) == (110, 111)


# -- suspended workflows -----------------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """Where the suspension point is read from: the lifecycle events each store keeps."""
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'wf.sqlite3'}"
    opened = open_store(url)
    yield opened
    opened.close()


def _child_runner(store: StateStore | None = None) -> tuple[LocalRunner, Any]:
    runner = LocalRunner(store)

    @runner.task
    def child() -> int:
        return 5

    return runner, child


def test_change_in_the_middle_of_a_suspended_workflow() -> None:
    # Given a workflow suspended on a child, the change placed before the child's start
    runner, child = _child_runner()
    code = {"new": False}

    @runner.task
    def flow() -> int:
        wf = flow.wf
        total = wf.deterministic("base", lambda: 10)
        if code["new"] and wf.patched("bonus"):
            total += wf.deterministic("bonus", lambda: 1)
        return total + int(wf.execute_task(child).result)

    # Then it resumes on the old branch
    workflow_id = _deploy_over_suspended(runner, code, flow)
    assert runner.engine.result(workflow_id) == 15
    assert BONUS not in _operations(runner, workflow_id)


def test_change_between_the_last_operation_and_the_suspending_wait(store: StateStore) -> None:
    # Given a workflow suspended on a child, the change placed after the child's start (its
    # last operation) and before the wait it suspended at: the old code ran there
    runner, child = _child_runner(store)
    code = {"new": False}

    @runner.task
    def flow() -> int:
        wf = flow.wf
        total = wf.deterministic("base", lambda: 10)
        handle = wf.start_task(child)
        if code["new"] and wf.patched("bonus"):
            total += wf.deterministic("bonus", lambda: 1)
        return total + int(handle.result())

    # Then it resumes on the old branch, recording nothing for the change
    workflow_id = _deploy_over_suspended(runner, code, flow)
    assert runner.engine.result(workflow_id) == 15
    assert _operations(runner, workflow_id) == [
        "deterministic:base",
        "start_task:" + child.spec.name,
    ]


def test_change_after_the_suspending_wait_is_taken_on_resume() -> None:
    # Given a workflow suspended on a child, the change placed after the wait: the old code
    # never ran there
    runner, child = _child_runner()
    code = {"new": False}

    @runner.task
    def flow() -> int:
        wf = flow.wf
        total = wf.deterministic("base", lambda: 10) + int(wf.execute_task(child).result)
        if code["new"] and wf.patched("bonus"):
            total += wf.deterministic("bonus", lambda: 1)
        return total

    # Then the resume takes the new branch
    workflow_id = _deploy_over_suspended(runner, code, flow)
    assert runner.engine.result(workflow_id) == 16
    assert BONUS in _operations(runner, workflow_id)


def test_change_after_a_timer_the_workflow_slept_on_is_taken_on_resume() -> None:
    runner = LocalRunner()
    code = {"new": False}

    @runner.task
    def flow() -> int:
        wf = flow.wf
        total = wf.deterministic("base", lambda: 10)
        wf.sleep(10)
        if code["new"] and wf.patched("bonus"):
            total += wf.deterministic("bonus", lambda: 1)
        return total

    workflow_id = _deploy_over_suspended(runner, code, flow)
    assert runner.engine.result(workflow_id) == 11


def test_the_suspending_wait_is_the_one_on_the_missing_child() -> None:
    # Given a workflow that passed a wait on one child and suspended at a wait on another:
    # the change lies between the two waits, where the old code ran
    runner = LocalRunner()
    code = {"new": False}

    @runner.task
    def quick() -> int:
        return 1

    @runner.task
    def slow() -> int:
        slow.wf.sleep(10)
        return 2

    @runner.task
    def flow() -> int:
        wf = flow.wf
        first, second = wf.start_task(quick), wf.start_task(slow)
        total = int(first.result())
        if code["new"] and wf.patched("bonus"):
            total += wf.deterministic("bonus", lambda: 100)
        return total + int(second.result())

    workflow_id = runner.start(flow)
    _suspend(runner, workflow_id)  # on quick
    runner.step()  # quick finishes and wakes flow
    runner.step()  # slow sleeps
    _suspend(runner, workflow_id)  # flow passes quick's wait, suspends on slow
    code["new"] = True
    _verify(runner, workflow_id)
    runner.run_until_idle()
    assert runner.engine.result(workflow_id) == 3
    assert BONUS not in _operations(runner, workflow_id)
    _verify(runner, workflow_id)
