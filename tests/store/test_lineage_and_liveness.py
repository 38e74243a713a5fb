"""Store contract on every backend: child workflows inherit a pending cancellation when they
are created, and every commit of an invocation marks it alive (``updated_at``)."""

from __future__ import annotations

import time

import pytest

from tests.store.records import invocation, workflow
from wfcore._models import Batch, WorkflowStatus
from wfcore.store import StateStore


def test_a_child_workflow_created_after_its_parent_was_cancelled_is_cancelled(
    store: StateStore,
) -> None:
    # Given a parent whose cancellation was requested (its walk of the children is over)
    parent, root = workflow("parent")
    store.create_workflow(parent, root)
    store.request_cancel("parent")
    # When the parent's run creates a child workflow afterwards
    child, child_root = workflow("child", parent="parent", root="parent")
    stored, created = store.create_workflow(child, child_root)
    # Then the child is created already cancel-requested: nothing can start it un-cancelled
    assert created
    assert stored.cancel_requested is True
    reread = store.get_workflow("child")
    assert reread is not None
    assert reread.cancel_requested is True
    assert [w.cancel_requested for w in store.child_workflows("parent")] == [True]


@pytest.mark.parametrize(
    ("parent_cancelled", "shielded"),
    [(True, True), (False, False)],
    ids=["cleanup-child-of-a-cancelled-parent", "child-of-a-live-parent"],
)
def test_other_child_workflows_are_created_not_cancelled(
    store: StateStore, parent_cancelled: bool, shielded: bool
) -> None:
    # Given a parent, cancelled or not, and a child workflow that its cleanup code (after a
    # cancellation: shielded) or its normal code starts
    parent, root = workflow("parent")
    store.create_workflow(parent, root)
    if parent_cancelled:
        store.request_cancel("parent")
    child, child_root = workflow("child", parent="parent", root="parent")
    child_root = child_root.model_copy(update={"cancel_shielded": shielded})
    # When it is created
    stored, _ = store.create_workflow(child, child_root)
    # Then it is not cancelled (cleanup runs to its end)
    assert stored.cancel_requested is False
    reread = store.get_workflow("child")
    assert reread is not None
    assert reread.cancel_requested is False


def test_every_commit_marks_the_invocation_alive(store: StateStore) -> None:
    # Given a running invocation (and a plain child) last updated long ago
    record, root = workflow("wf-1", created_at=time.time() - 1000)
    store.create_workflow(record, root)
    store.load("wf-1", root.invocation_id)
    store.heartbeat([root.ref], time.time() - 1000)  # never moves back: stays at the claim
    before = store.get_invocation("wf-1", root.invocation_id)
    assert before is not None
    time.sleep(0.01)
    # When it commits plain progress (a recorded step: no suspension, no finish)
    child = invocation("wf-1", "wf-1-root.0", parent_invocation_id=root.invocation_id)
    start = time.time()
    assert store.commit("wf-1", root.invocation_id, Batch(0, [b"step"], children=[child])).ok
    # Then its updated_at (and its workflow's, it is the root) moved to the commit's time:
    # a recovery sweep does not take a run that keeps committing for a lost one
    after = store.get_invocation("wf-1", root.invocation_id)
    assert after is not None
    assert after.status is WorkflowStatus.RUNNING
    assert after.updated_at >= start > before.updated_at
    wf = store.get_workflow("wf-1")
    assert wf is not None
    assert wf.updated_at >= start
    stale = store.recover_candidates(older_than=start - 0.001, now=time.time())
    assert root.invocation_id not in [c.invocation_id for c in stale]
