"""The store side of repairs, on every store: ``reopen`` (resume) and ``create_fork``."""

from __future__ import annotations

import time

from tests.store import racers
from tests.store.conftest import StoreUnderTest
from tests.store.records import invocation, workflow
from tests.store.test_conformance import RACERS, _race
from wfcore._models import Batch, Finish, ParentOutcome, Reopen, WorkflowStatus
from wfcore.store import StateStore

FAILED = {WorkflowStatus.FAILED, WorkflowStatus.CANCELLED}


def _failed_tree(store: StateStore) -> tuple[str, str]:
    """wf-1: a root that started a child at seq 1, the child failed, then the root failed."""
    record, root = workflow("wf-1")
    store.create_workflow(record, root)
    child = invocation("wf-1", "wf-1-root.1", parent_invocation_id=root.invocation_id, parent_seq=1)
    store.load("wf-1", root.invocation_id)
    store.commit("wf-1", root.invocation_id, Batch(0, [b"op0", b"op1"], children=[child]))
    store.load("wf-1", child.invocation_id)
    failed = Finish(WorkflowStatus.FAILED, b"child-error")
    parent = ParentOutcome(root.invocation_id, 1)
    store.commit("wf-1", child.invocation_id, Batch(0, [b"ev"], finish=failed, parent=parent))
    finish = Finish(WorkflowStatus.FAILED, b"root-error")
    store.commit("wf-1", root.invocation_id, Batch(2, [b"failed"], finish=finish))
    return root.invocation_id, child.invocation_id


def test_reopen_takes_a_failed_tree_back_to_pending(store: StateStore) -> None:
    # Given a failed workflow (its retention running) whose child failed
    root, child = _failed_tree(store)
    # When its root and child are reopened, the child's outcome forgotten in the root
    changes = [
        Reopen(root, 3, rewrite={1: b"op1-marked"}, append=[b"resumed"], forget=[1]),
        Reopen(child, 1, append=[b"resumed"]),
    ]
    record = store.reopen("wf-1", changes, statuses=FAILED)
    # Then the workflow and both invocations are PENDING, outcomes cleared, history rewritten
    assert record is not None
    assert record.status is WorkflowStatus.PENDING
    assert store.get_workflow("wf-1") == record
    snap = store.load("wf-1", root, claim=False)
    assert snap is not None
    assert snap.entries == [b"op0", b"op1-marked", b"failed", b"resumed"]
    assert snap.outcomes == {}
    assert snap.invocation.outcome is None
    assert snap.invocation.status is WorkflowStatus.PENDING
    child_snap = store.load("wf-1", child, claim=False)
    assert child_snap is not None
    assert child_snap.entries == [b"ev", b"resumed"]
    assert child_snap.invocation.status is WorkflowStatus.PENDING
    assert child_snap.invocation.outcome is None
    # And retention no longer applies, while the recovery sweep sees both
    assert store.purge_expired(time.time() + 3600) == 0
    later = time.time() + 10
    stale = store.recover_candidates(older_than=later, now=later)
    assert {inv.invocation_id for inv in stale} == {root, child}


def test_a_reopened_invocation_waits_for_its_child_again(store: StateStore) -> None:
    # Given a reopened tree
    root, child = _failed_tree(store)
    store.reopen("wf-1", [Reopen(root, 3, forget=[1]), Reopen(child, 1)], statuses=FAILED)
    # When the root replays and suspends on seq 1 and the child then completes
    store.load("wf-1", root)
    suspended = store.commit("wf-1", root, Batch(3, [b"suspended"], suspend=[1]))
    store.load("wf-1", child)
    done = Finish(WorkflowStatus.COMPLETED, b"ok")
    told = store.commit("wf-1", child, Batch(1, finish=done, parent=ParentOutcome(root, 1)))
    # Then the new outcome is recorded and wakes the root exactly once
    assert suspended.ok
    assert not suspended.ready
    assert told.parent is not None
    assert told.parent.recorded
    assert told.parent.wake
    snap = store.load("wf-1", root, claim=False)
    assert snap is not None
    assert snap.outcomes == {1: b"ok"}


def test_reopen_is_refused_and_writes_nothing_when_its_guards_fail(store: StateStore) -> None:
    root, child = _failed_tree(store)
    before = store.load("wf-1", root, claim=False)
    # A status not allowed, a history that moved on, an unknown invocation or workflow
    assert store.reopen("wf-1", [Reopen(root, 3)], statuses={WorkflowStatus.CANCELLED}) is None
    assert store.reopen("wf-1", [Reopen(root, 3), Reopen(child, 5)], statuses=FAILED) is None
    assert store.reopen("wf-1", [Reopen(root, 3), Reopen("nope", 0)], statuses=FAILED) is None
    assert store.reopen("nope", [Reopen(root, 3)], statuses=FAILED) is None
    # Then nothing changed
    assert store.load("wf-1", root, claim=False) == before
    record = store.get_workflow("wf-1")
    assert record is not None
    assert record.status is WorkflowStatus.FAILED
    child_record = store.get_invocation("wf-1", child)
    assert child_record is not None
    assert child_record.status is WorkflowStatus.FAILED


def test_a_second_reopen_is_refused(store: StateStore) -> None:
    root, _ = _failed_tree(store)
    assert store.reopen("wf-1", [Reopen(root, 3, append=[b"r"])], statuses=FAILED) is not None
    assert store.reopen("wf-1", [Reopen(root, 4, append=[b"r"])], statuses=FAILED) is None
    snap = store.load("wf-1", root, claim=False)
    assert snap is not None
    assert snap.entries[-2:] == [b"failed", b"r"]


def test_racing_reopens_reopen_once(backend: StoreUnderTest, store: StateStore) -> None:
    # Given a failed workflow and racers that all try to reopen it at one instant
    root, _ = _failed_tree(store)
    change = Reopen(root, 3, append=[b"resumed"])
    calls = [
        (
            racers.reopen,
            ("wf-1", root, 3),
            lambda s: s.reopen("wf-1", [change], statuses={WorkflowStatus.FAILED}) is not None,
        )
        for _ in range(RACERS)
    ]
    # Then exactly one reopened it, and its event was appended once
    assert sorted(_race(backend, store, calls)) == [False] * (RACERS - 1) + [True]
    snap = store.load("wf-1", root, claim=False)
    assert snap is not None
    assert snap.entries.count(b"resumed") == 1


def test_reopen_clears_the_cancel_flag(store: StateStore) -> None:
    record, root = workflow("wf-c")
    store.create_workflow(record, root)
    store.request_cancel("wf-c")
    store.load("wf-c", root.invocation_id)
    cancelled = Finish(WorkflowStatus.CANCELLED, b"c")
    store.commit("wf-c", root.invocation_id, Batch(0, [b"x"], finish=cancelled))
    reopened = store.reopen("wf-c", [Reopen(root.invocation_id, 1)], statuses=FAILED)
    assert reopened is not None
    assert reopened.cancel_requested is False
    assert reopened.status is WorkflowStatus.PENDING


def test_create_fork_writes_history_outcomes_and_data_once(store: StateStore) -> None:
    # Given a fork record with a recorded prefix
    record, root = workflow("fork-1")
    record = record.model_copy(update={"forked_from": "wf-1"})
    entries, outcomes, data = [b"forked", b"op0", b"op1"], {1: b"child-ok"}, {"k": b"v"}
    # When it is created twice, the second time with other contents
    stored, created = store.create_fork(record, root, entries, outcomes, data)
    again, created_again = store.create_fork(record, root, [b"other"], {}, {"k": b"w"})
    # Then the first one stands, with its lineage, history, outcomes and data
    assert (created, created_again) == (True, False)
    assert stored == again == store.get_workflow("fork-1")
    assert again.forked_from == "wf-1"
    snap = store.load("fork-1", root.invocation_id, claim=False)
    assert snap is not None
    assert snap.entries == entries
    assert snap.outcomes == outcomes
    assert snap.invocation.status is WorkflowStatus.PENDING
    assert store.read_data("fork-1", "k") == b"v"
    assert [w.workflow_id for w in store.list_workflows()] == ["fork-1"]
    # And the fork goes on from its history like any workflow
    store.load("fork-1", root.invocation_id)
    assert store.commit("fork-1", root.invocation_id, Batch(3, [b"op2"])).ok
