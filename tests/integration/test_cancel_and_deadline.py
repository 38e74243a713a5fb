"""Cancellation and deadlines through the embedded App (real Dramatiq worker threads)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from wfcore import WorkflowCancelled, WorkflowStatus
from wfcore.errors import WorkflowCancelledError, WorkflowFailedError
from wfcore_dramatiq import App

ROOT = Path(__file__).resolve().parents[2]


def _wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_handle_cancel_wakes_a_sleeping_workflow_and_its_child_workflow(
    make_app: Callable[..., App],
) -> None:
    # Given a workflow sleeping an hour while its child workflow sleeps too
    app = make_app()

    @app.task(force_new_workflow=True)
    def child() -> str:
        child.wf.sleep("1h")
        return "child"

    @app.task
    def parent() -> str:
        wf = parent.wf
        handle = wf.start_task(child)
        try:
            wf.sleep("1h")
            return str(handle.result())
        except WorkflowCancelled:
            wf.set_data("cleanup", "done")
            raise

    handle = parent.send_with_options()
    _wait_for(lambda: handle.status() is WorkflowStatus.SUSPENDED and len(handle.children()) == 1)
    [child_identity] = handle.children()
    _wait_for(lambda: app.handle(child_identity.workflow_id).status() is WorkflowStatus.SUSPENDED)
    # When it is cancelled
    assert handle.cancel() is True
    # Then both end CANCELLED without waiting the hour, and cleanup ran
    with pytest.raises(WorkflowCancelledError):
        handle.result(timeout=10)
    _wait_for(lambda: app.handle(child_identity.workflow_id).status() is WorkflowStatus.CANCELLED)
    kinds = [e.kind for e in handle.history()]
    assert "cancelled" in kinds
    assert "workflow_cancelled" in kinds
    assert handle.cancel() is False


def test_max_duration_fails_a_suspended_workflow(make_app: Callable[..., App]) -> None:
    app = make_app()

    @app.task(max_duration=0.5)
    def slow() -> str:
        slow.wf.sleep(30)
        return "late"

    handle = slow.send_with_options()
    with pytest.raises(WorkflowFailedError, match="max_duration"):
        handle.result(timeout=10)


_CANCEL_ONLY = """
import sys, time
from wfcore.errors import WorkflowCancelledError
from wfcore_dramatiq import App

app = App(store=sys.argv[1])

@app.task
def sleeper() -> str:
    sleeper.wf.sleep("1h")
    return "woke"

handle = app.handle(sys.argv[2])
started = time.monotonic()
handle.cancel()
try:
    handle.result(timeout=10)
except WorkflowCancelledError:
    print(f"cancelled {time.monotonic() - started:.2f} {handle.status().value}")
app.close()
"""


def test_cancelling_a_sleeping_workflow_from_a_new_process_wakes_it_at_once(
    make_app: Callable[..., App], tmp_path: Path
) -> None:
    # Given a workflow of the embedded App sleeping an hour, and its process gone
    store = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    app = make_app(store=store)

    @app.task
    def sleeper() -> str:
        sleeper.wf.sleep("1h")
        return "woke"

    handle = sleeper.send_with_options()
    _wait_for(lambda: handle.status() is WorkflowStatus.SUSPENDED)
    app.close()
    # When a new process that only cancels it and waits for the result runs
    script = tmp_path / "cancel_only.py"
    script.write_text(_CANCEL_ONLY)
    done = subprocess.run(
        [sys.executable, str(script), store, handle.workflow_id],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    # Then the workflow is woken there at once and ends CANCELLED
    assert done.returncode == 0, done.stderr[-3000:]
    word, seconds, status = done.stdout.split()
    assert (word, status) == ("cancelled", "CANCELLED")
    assert float(seconds) < 5


def _tree(app: App, workflow_id: str) -> list[WorkflowStatus]:
    """Statuses of the workflow's descendants (not itself), at every depth."""
    found, pending = [], [workflow_id]
    while pending:
        for child in app.store.child_workflows(pending.pop()):
            found.append(child.status)
            pending.append(child.workflow_id)
    return found


def test_cancel_reaches_every_descendant_of_a_workflow_starting_children_meanwhile(
    make_app: Callable[..., App],
) -> None:
    # Given a workflow that keeps starting child workflows, each starting a grandchild
    # workflow and then sleeping an hour or (every other one) finishing without waiting
    app = make_app(worker_threads=8)

    @app.task(force_new_workflow=True)
    def grandchild() -> str:
        grandchild.wf.sleep("1h")
        return "late"

    @app.task(force_new_workflow=True)
    def child(i: int) -> str:
        child.wf.start_task(grandchild)
        if i % 2:
            return "left its grandchild running"
        child.wf.sleep("1h")
        return "late"

    @app.task
    def spawner() -> str:
        wf = spawner.wf
        for i in range(400):
            wf.start_task(child, i)
            wf.deterministic("tick", time.sleep, 0.005)  # records (and sends) the start
        return "spawned everything"

    handle = spawner.send_with_options()
    _wait_for(lambda: len(_tree(app, handle.workflow_id)) >= 20)
    # When it is cancelled while it (and its children) keep starting workflows
    assert handle.cancel() is True
    # Then it ends CANCELLED, and every descendant ends too: the children that finished
    # before the cancel reached them COMPLETED, every other one (all sleep an hour) CANCELLED
    with pytest.raises(WorkflowCancelledError):
        handle.result(timeout=30)
    _wait_for(lambda: all(s.finished for s in _tree(app, handle.workflow_id)), timeout=30)
    statuses = _tree(app, handle.workflow_id)
    assert len(statuses) < 800  # the cancel stopped the loop
    assert set(statuses) <= {WorkflowStatus.CANCELLED, WorkflowStatus.COMPLETED}
    grandchildren = [
        g.status
        for c in app.store.child_workflows(handle.workflow_id)
        for g in app.store.child_workflows(c.workflow_id)
    ]
    assert set(grandchildren) == {WorkflowStatus.CANCELLED}
