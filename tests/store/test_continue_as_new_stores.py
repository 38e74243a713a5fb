"""``wf.continue_as_new`` on every store: ``Batch.continue_with`` in the store contract, and
the engine's edge cases (child workflows, cancellation, misuse, unencodable arguments)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.store.conftest import StoreUnderTest
from tests.store.records import invocation, workflow
from wfcore import LocalRunner, Replayer, WorkflowStatus, export_history
from wfcore._models import Batch, Finish
from wfcore.errors import EncodeError, WorkflowCancelledError, WorkflowFailedError
from wfcore.store import StateStore


def test_a_commit_continues_the_workflow_with_a_new_root(store: StateStore) -> None:
    # Given a running root
    record, root = workflow("wf-1")
    store.create_workflow(record, root)
    rid = root.invocation_id
    store.load("wf-1", rid)
    following = invocation("wf-1", f"{rid}~run2")
    # When it commits its end with continue_with the next run's root
    done = Finish(WorkflowStatus.COMPLETED, b"continued")
    batch = Batch(
        0, [b"op0"], children=[following], finish=done, continue_with=following.invocation_id
    )
    assert store.commit("wf-1", rid, batch).ok
    # Then the workflow runs on, rooted at the new invocation, not finished, not expiring
    stored = store.get_workflow("wf-1")
    assert stored is not None
    assert stored.root_invocation_id == following.invocation_id
    assert stored.status is WorkflowStatus.PENDING
    pending = store.list_workflows(status=WorkflowStatus.PENDING)
    assert [w.workflow_id for w in pending] == ["wf-1"]
    assert store.list_workflows(status=WorkflowStatus.RUNNING) == []
    assert store.count_workflows(WorkflowStatus.PENDING) == 1
    assert store.count_workflows(WorkflowStatus.RUNNING) == 0
    old = store.get_invocation("wf-1", rid)
    assert old is not None
    assert old.status is WorkflowStatus.COMPLETED
    assert old.outcome == b"continued"
    assert store.purge_expired(time.time() + 3600) == 0
    later = time.time() + 10
    stale = store.recover_candidates(older_than=later, now=later)
    assert following.invocation_id in {inv.invocation_id for inv in stale}
    # And when the new root finishes, the workflow finishes with it
    snap = store.load("wf-1", following.invocation_id)
    assert snap is not None
    assert snap.entries == []
    end = Finish(WorkflowStatus.COMPLETED, b"result")
    assert store.commit("wf-1", following.invocation_id, Batch(0, [b"x"], finish=end)).ok
    final = store.get_workflow("wf-1")
    assert final is not None
    assert final.status is WorkflowStatus.COMPLETED


def _runner(backend: StoreUnderTest) -> tuple[LocalRunner, StateStore]:
    store = backend.make()
    return LocalRunner(store), store


def test_a_child_workflow_that_continues_gives_its_parent_the_last_result(
    backend: StoreUnderTest,
) -> None:
    runner, store = _runner(backend)
    try:

        @runner.task(name="can.loop", force_new_workflow=True)
        def loop(n: int) -> int:
            if n < 3:
                loop.wf.continue_as_new(n + 1)
            return n * 100 + loop.wf.run

        @runner.task(name="can.parent")
        def parent() -> int:
            return int(parent.wf.execute_task(loop, 0).result)

        workflow_id = runner.start(parent)
        runner.run_until_idle()
        assert runner.engine.result(workflow_id) == 304
        replayed = Replayer(runner._lookup).replay(store, workflow_id)
        assert replayed.ok, replayed.divergence
    finally:
        store.close()


def test_a_cancellation_wins_over_continuing(backend: StoreUnderTest) -> None:
    runner, store = _runner(backend)
    try:

        @runner.task(name="can.child")
        def child() -> int:
            return 1

        @runner.task(name="can.forever")
        def forever(n: int) -> int:
            forever.wf.execute_task(child)
            forever.wf.continue_as_new(n + 1)

        workflow_id = runner.start(forever, 0)
        runner.step()  # the root starts its child and suspends
        runner.engine.cancel(workflow_id)
        runner.run_until_idle()
        with pytest.raises(WorkflowCancelledError):
            runner.engine.result(workflow_id)
        assert len(store.list_invocations(workflow_id)) == 2  # no second run
    finally:
        store.close()


def test_only_a_workflow_root_can_continue(backend: StoreUnderTest) -> None:
    runner, store = _runner(backend)
    try:

        @runner.task(name="can.inner")
        def inner() -> None:
            inner.wf.continue_as_new()

        @runner.task(name="can.outer")
        def outer() -> Any:
            return outer.wf.execute_task(inner).result

        workflow_id = runner.start(outer)
        runner.run_until_idle()
        with pytest.raises(WorkflowFailedError, match="only a workflow's root invocation"):
            runner.engine.result(workflow_id)
    finally:
        store.close()


def test_unencodable_arguments_fail_the_run_and_continue_nothing(
    backend: StoreUnderTest,
) -> None:
    runner, store = _runner(backend)
    try:

        @runner.task(name="can.bad")
        def bad() -> None:
            bad.wf.continue_as_new(object())

        workflow_id = runner.start(bad)
        runner.run_until_idle()
        with pytest.raises(WorkflowFailedError) as info:
            runner.engine.result(workflow_id)
        assert info.value.error_type == EncodeError.__module__ + ".EncodeError"
        assert len(store.list_invocations(workflow_id)) == 1
    finally:
        store.close()


def test_an_exported_continued_workflow_replays(backend: StoreUnderTest, tmp_path: Any) -> None:
    runner, store = _runner(backend)
    try:

        @runner.task(name="can.child2")
        def child(i: int) -> int:
            return i

        @runner.task(name="can.exported")
        def exported(n: int) -> int:
            value = exported.wf.execute_task(child, n).result
            if n < 2:
                exported.wf.continue_as_new(n + 1)
            return int(value)

        workflow_id = runner.start(exported, 0)
        runner.run_until_idle()
        path = tmp_path / "continued.wfh"
        path.write_bytes(export_history(store, workflow_id))
        replayed = Replayer(runner._lookup).replay_file(path)
        assert replayed.ok, replayed.divergence
        assert replayed.invocations == 3
    finally:
        store.close()
