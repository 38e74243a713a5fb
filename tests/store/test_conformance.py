"""One storage contract, run against every store: memory, SQLite and a real Redis."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

import pytest

from tests.store import racers
from tests.store.conftest import StoreUnderTest
from tests.store.records import invocation, workflow
from wfcore import LocalRunner
from wfcore._models import (
    Batch,
    Finish,
    InvocationRecord,
    InvocationRef,
    ParentOutcome,
    QueuePush,
    QueueReceipt,
    WorkflowStatus,
)
from wfcore.errors import ConfigurationError, StoreUnavailableError, WorkflowNotFoundError
from wfcore.store import StateStore
from wfcore.store.memory import MemoryStore

T = TypeVar("T")
RACERS = 8


def _race(
    backend: StoreUnderTest,
    store: StateStore,
    calls: Sequence[tuple[Callable[..., T], tuple[Any, ...], Callable[[StateStore], T]]],
) -> list[T]:
    """Run the calls at one instant: in processes when the store has a URL, else in threads.

    Each call is (process function, its args after url/start_at, equivalent in-thread op).
    """
    if backend.url is None:
        start = threading.Barrier(len(calls))
        results: dict[int, T] = {}

        def run(i: int, op: Callable[[StateStore], T]) -> None:
            start.wait()
            results[i] = op(store)

        threads = [threading.Thread(target=run, args=(i, c[2])) for i, c in enumerate(calls)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return [results[i] for i in range(len(calls))]
    start_at = time.time() + 2.0
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(calls), mp_context=ctx) as pool:
        futures = [pool.submit(fn, backend.url, start_at, *args) for fn, args, _ in calls]
        return [f.result(timeout=30) for f in futures]


def _started(store: StateStore, workflow_id: str = "wf-1") -> str:
    record, root = workflow(workflow_id)
    store.create_workflow(record, root)
    return root.invocation_id


# -- workflows ---------------------------------------------------------------------------


def test_create_workflow_is_idempotent(store: StateStore) -> None:
    # Given a created workflow
    record, root = workflow("wf-1")
    first, created = store.create_workflow(record, root)
    # When the same id is created again with another type
    other, _ = workflow("wf-1", workflow_type="other")
    again, created_again = store.create_workflow(other, root)
    # Then the first record stays and the second call says it did not create
    assert created is True
    assert created_again is False
    assert again.workflow_type == "order"
    assert first == store.get_workflow("wf-1")
    fetched = store.get_invocation("wf-1", root.invocation_id)
    assert fetched is not None
    assert fetched.status is WorkflowStatus.PENDING


def test_concurrent_creation_creates_once(backend: StoreUnderTest, store: StateStore) -> None:
    # Given racers that all create the same workflow at one instant
    record, root = workflow("wf-race")
    calls = [
        (racers.create, ("wf-race",), lambda s: s.create_workflow(record, root)[1])
        for _ in range(RACERS)
    ]
    # When they race
    created = _race(backend, store, calls)
    # Then exactly one of them created it
    assert sorted(created) == [False] * (RACERS - 1) + [True]
    assert store.get_workflow("wf-race") is not None


def test_missing_things_are_none(store: StateStore) -> None:
    assert store.get_workflow("nope") is None
    assert store.get_invocation("nope", "nope") is None
    assert store.load("nope", "nope") is None
    assert store.read_data("nope", "k") is None
    assert store.request_cancel("nope") is None
    assert store.list_invocations("nope") == []


def test_commit_on_missing_invocation_is_a_clear_error(store: StateStore) -> None:
    _started(store)
    with pytest.raises(WorkflowNotFoundError, match="nope"):
        store.commit("wf-1", "nope", Batch(0, [b"x"]))
    with pytest.raises(WorkflowNotFoundError, match="missing"):
        store.commit("missing", "nope", Batch(0, [b"x"]))


def test_list_workflows_by_status_and_type_newest_first(store: StateStore) -> None:
    # Given three workflows of two types, one of them finished
    for i, kind in enumerate(["order", "refund", "order"]):
        record, root = workflow(f"wf-{i}", workflow_type=kind, created_at=1000.0 + i)
        store.create_workflow(record, root)
    store.load("wf-2", "wf-2-root")
    store.commit("wf-2", "wf-2-root", Batch(0, finish=Finish(WorkflowStatus.COMPLETED, b"r")))
    # When listing with filters
    orders = store.list_workflows(workflow_type="order")
    done = store.list_workflows(status=WorkflowStatus.COMPLETED)
    pending_orders = store.list_workflows(status=WorkflowStatus.PENDING, workflow_type="order")
    # Then the filters apply and the newest come first
    assert [w.workflow_id for w in orders] == ["wf-2", "wf-0"]
    assert [w.workflow_id for w in done] == ["wf-2"]
    assert [w.workflow_id for w in pending_orders] == ["wf-0"]
    assert [w.workflow_id for w in store.list_workflows(limit=2)] == ["wf-2", "wf-1"]


def test_lineage_lists_child_workflows(store: StateStore) -> None:
    # Given a parent with two child workflows and one grandchild
    _started(store, "parent")
    for i in range(2):
        record, root = workflow(f"child-{i}", parent="parent", root="parent", created_at=2000.0 + i)
        store.create_workflow(record, root)
    grand, grand_root = workflow("grand", parent="child-0", root="parent")
    store.create_workflow(grand, grand_root)
    # Then each level lists only its direct children, oldest first
    assert [w.workflow_id for w in store.child_workflows("parent")] == ["child-0", "child-1"]
    assert [w.workflow_id for w in store.child_workflows("child-0")] == ["grand"]
    assert store.child_workflows("grand") == []
    child = store.get_workflow("child-1")
    assert child is not None
    assert child.identity.root_workflow_id == "parent"


# -- load and commit ---------------------------------------------------------------------


def test_load_claims_the_invocation(store: StateStore) -> None:
    # Given a pending workflow
    inv = _started(store)
    # When it is loaded without and then with a claim
    peek = store.load("wf-1", inv, claim=False)
    first = store.load("wf-1", inv)
    second = store.load("wf-1", inv)
    # Then only claims make it RUNNING and count attempts
    assert peek is not None
    assert first is not None
    assert second is not None
    assert peek.invocation.status is WorkflowStatus.PENDING
    assert peek.invocation.attempts == 0
    assert first.invocation.status is WorkflowStatus.RUNNING
    assert (first.invocation.attempts, second.invocation.attempts) == (1, 2)
    assert second.workflow.status is WorkflowStatus.RUNNING
    assert second.entries == []
    assert second.outcomes == {}


def test_commit_appends_in_order_and_load_returns_everything(store: StateStore) -> None:
    # Given a running invocation
    inv = _started(store)
    # When two batches are committed
    assert store.commit("wf-1", inv, Batch(0, [b"a", b"b"])).ok
    assert store.commit("wf-1", inv, Batch(2, [b"c"], data={"k": b"v"})).ok
    # Then the history holds them in order and the data is written
    snap = store.load("wf-1", inv)
    assert snap is not None
    assert snap.entries == [b"a", b"b", b"c"]
    assert store.read_data("wf-1", "k") == b"v"


def test_losing_writer_learns_the_winner_and_writes_nothing(store: StateStore) -> None:
    # Given a history of one entry
    inv = _started(store)
    store.commit("wf-1", inv, Batch(0, [b"winner"]))
    # When a writer with a stale view commits at seq 0 with data and a child
    child = invocation("wf-1", "loser-child")
    result = store.commit("wf-1", inv, Batch(0, [b"loser"], data={"k": b"x"}, children=[child]))
    # Then it loses, learns the winning entry, and none of its batch was applied
    assert result.ok is False
    assert result.winners == [b"winner"]
    snap = store.load("wf-1", inv)
    assert snap is not None
    assert snap.entries == [b"winner"]
    assert store.read_data("wf-1", "k") is None
    assert store.get_invocation("wf-1", "loser-child") is None


def test_writers_racing_on_one_seq_first_wins(backend: StoreUnderTest, store: StateStore) -> None:
    # Given racers that each write their own entry at seq 0 of one invocation
    inv = _started(store)
    calls = [
        (
            racers.append,
            ("wf-1", inv, f"w{i}".encode()),
            lambda s, i=i: s.commit("wf-1", inv, Batch(0, [f"w{i}".encode()])).ok,
        )
        for i in range(RACERS)
    ]
    # When they race
    won = _race(backend, store, calls)
    # Then exactly one won and the history holds exactly its entry
    assert won.count(True) == 1
    snap = store.load("wf-1", inv)
    assert snap is not None
    assert snap.entries == [f"w{won.index(True)}".encode()]


def test_data_is_workflow_scoped(store: StateStore) -> None:
    # Given two workflows, the first with a plain child invocation
    inv = _started(store, "wf-a")
    other = _started(store, "wf-b")
    child = invocation("wf-a", "child", parent_invocation_id=inv, parent_seq=0)
    store.commit("wf-a", inv, Batch(0, [b"start"], children=[child]))
    # When the child sets a key and the other workflow sets the same key
    store.commit("wf-a", "child", Batch(0, data={"status": b"child"}))
    store.commit("wf-b", other, Batch(0, data={"status": b"other"}))
    # Then the parent sees its child's value and not the other workflow's
    assert store.read_data("wf-a", "status") == b"child"
    assert store.read_data("wf-b", "status") == b"other"


def test_children_are_created_once(store: StateStore) -> None:
    # Given a child created by a commit
    inv = _started(store)
    child = invocation("wf-1", "c1", task="charge", parent_invocation_id=inv, parent_seq=0)
    store.commit("wf-1", inv, Batch(0, [b"start"], children=[child]))
    store.load("wf-1", "c1")
    # When another commit names the same child again
    again = invocation("wf-1", "c1", task="other")
    store.commit("wf-1", inv, Batch(1, [b"x"], children=[again]))
    # Then the first record stays, claimed and untouched
    stored = store.get_invocation("wf-1", "c1")
    assert stored is not None
    assert stored.task_name == "charge"
    assert stored.status is WorkflowStatus.RUNNING
    assert stored.parent_invocation_id == inv
    assert [i.invocation_id for i in store.list_invocations("wf-1")] == [inv, "c1"]


# -- suspension and wake -----------------------------------------------------------------


def test_suspend_then_outcomes_wake_exactly_once(store: StateStore) -> None:
    # Given an invocation suspended on seqs 0 and 1
    inv = _started(store)
    store.load("wf-1", inv)
    result = store.commit("wf-1", inv, Batch(0, [b"s0", b"s1"], suspend=[0, 1]))
    assert (result.ok, result.ready) == (True, False)
    suspended = store.load("wf-1", inv, claim=False)
    assert suspended is not None
    assert suspended.invocation.status is WorkflowStatus.SUSPENDED
    assert suspended.invocation.waiting == (0, 1)
    assert suspended.workflow.status is WorkflowStatus.SUSPENDED
    # When both outcomes arrive, the second twice
    first = store.record_outcome("wf-1", inv, 0, b"o0")
    second = store.record_outcome("wf-1", inv, 1, b"o1")
    duplicate = store.record_outcome("wf-1", inv, 1, b"other")
    # Then only the one completing the set wakes, and the first recorded value stays
    assert (first.recorded, first.wake) == (True, False)
    assert (second.recorded, second.wake) == (True, True)
    assert (duplicate.recorded, duplicate.wake) == (False, False)
    woken = store.load("wf-1", inv, claim=False)
    assert woken is not None
    assert woken.invocation.status is WorkflowStatus.PENDING
    assert woken.outcomes == {0: b"o0", 1: b"o1"}


def test_outcomes_not_awaited_do_not_count_towards_a_wake(store: StateStore) -> None:
    # Given an invocation that started children at seqs 0, 1 and 2 but waits only on 1 and 2
    inv = _started(store)
    store.load("wf-1", inv)
    store.commit("wf-1", inv, Batch(0, [b"a", b"b", b"c"], suspend=[1, 2]))
    # When the outcome it does not wait for arrives, then the ones it waits for
    wakes = [store.record_outcome("wf-1", inv, seq, b"o").wake for seq in (0, 2, 1)]
    # Then only the last awaited one wakes it
    assert wakes == [False, False, True]


def test_a_suspension_needing_one_of_three_wakes_on_the_first_awaited_outcome(
    store: StateStore,
) -> None:
    # Given an invocation suspended on seqs 0, 1 and 2, needing any one of them (an async
    # body's asyncio.wait(FIRST_COMPLETED))
    inv = _started(store)
    store.load("wf-1", inv)
    batch = Batch(0, [b"a", b"b", b"c"], suspend=[0, 1, 2], suspend_need=1)
    assert store.commit("wf-1", inv, batch).ready is False
    # When the outcomes arrive one by one
    wakes = [store.record_outcome("wf-1", inv, seq, b"o").wake for seq in (1, 0, 2)]
    # Then the first wakes it, once
    assert wakes == [True, False, False]


def test_a_suspension_needing_two_counts_what_arrived_since(store: StateStore) -> None:
    # Given an invocation whose first of three awaited outcomes is already recorded
    inv = _started(store)
    store.load("wf-1", inv)
    store.commit("wf-1", inv, Batch(0, [b"a", b"b", b"c"]))
    store.record_outcome("wf-1", inv, 0, b"o")
    # When it suspends on all three, needing two: one more is enough
    result = store.commit("wf-1", inv, Batch(3, suspend=[0, 1, 2], suspend_need=2))
    assert (result.ok, result.ready) == (True, False)
    wakes = [store.record_outcome("wf-1", inv, seq, b"o").wake for seq in (2, 1)]
    # Then the next one wakes it; and a suspension whose need is met is ready at once
    assert wakes == [True, False]
    ready = store.commit("wf-1", inv, Batch(3, suspend=[0, 1, 2], suspend_need=3))
    assert (ready.ok, ready.ready) == (True, True)


def test_suspend_is_refused_when_outcomes_are_already_there(store: StateStore) -> None:
    # Given a running invocation whose child finished while it ran
    inv = _started(store)
    store.load("wf-1", inv)
    store.commit("wf-1", inv, Batch(0, [b"start"]))
    assert store.record_outcome("wf-1", inv, 0, b"done").wake is False
    # When it tries to suspend on that child
    result = store.commit("wf-1", inv, Batch(1, [b"r"], suspend=[0]))
    # Then it is told to replay at once; its entries are kept and it stays RUNNING
    assert (result.ok, result.ready) == (True, True)
    snap = store.load("wf-1", inv, claim=False)
    assert snap is not None
    assert snap.invocation.status is WorkflowStatus.RUNNING
    assert snap.entries == [b"start", b"r"]


def test_racing_outcomes_wake_exactly_once(backend: StoreUnderTest, store: StateStore) -> None:
    # Given an invocation suspended on RACERS children
    inv = _started(store)
    store.load("wf-1", inv)
    store.commit("wf-1", inv, Batch(0, suspend=list(range(RACERS))))
    calls = [
        (
            racers.record,
            ("wf-1", inv, i),
            lambda s, i=i: s.record_outcome("wf-1", inv, i, f"out-{i}".encode()).wake,
        )
        for i in range(RACERS)
    ]
    # When all outcomes are recorded at one instant
    wakes = _race(backend, store, calls)
    # Then exactly one recorder wakes the parent
    assert wakes.count(True) == 1
    snap = store.load("wf-1", inv, claim=False)
    assert snap is not None
    assert len(snap.outcomes) == RACERS


def _parent_with_children(store: StateStore, n: int) -> tuple[str, list[str]]:
    """A root suspended on n plain children started at seqs 0..n-1, each loaded (running)."""
    root = _started(store)
    store.load("wf-1", root)
    kids = [
        invocation("wf-1", f"kid-{i}", parent_invocation_id=root, parent_seq=i) for i in range(n)
    ]
    store.commit("wf-1", root, Batch(0, children=kids, suspend=list(range(n))))
    for kid in kids:
        store.load("wf-1", kid.invocation_id)
    return root, [kid.invocation_id for kid in kids]


def _finish_telling(store: StateStore, kid: str, seq: int, value: bytes) -> Any:
    finish = Finish(WorkflowStatus.COMPLETED, value)
    return store.commit(
        "wf-1", kid, Batch(0, finish=finish, parent=ParentOutcome("wf-1-root", seq))
    )


def test_a_finish_records_its_outcome_in_the_parent_in_the_same_write(store: StateStore) -> None:
    # Given a parent suspended on two plain children of its workflow
    root, kids = _parent_with_children(store, 2)
    # When each child commits its finish naming the parent, the second one twice
    first = _finish_telling(store, kids[0], 0, b"o0")
    second = _finish_telling(store, kids[1], 1, b"o1")
    again = store.record_outcome("wf-1", root, 1, b"late")
    # Then each finish recorded its outcome, only the last one wakes, and a later record of
    # the same position (a redelivered child) changes nothing
    assert first.ok
    assert first.parent is not None
    assert (first.parent.recorded, first.parent.wake) == (True, False)
    assert second.ok
    assert second.parent is not None
    assert (second.parent.recorded, second.parent.wake) == (True, True)
    assert (again.recorded, again.wake) == (False, False)
    parent = store.load("wf-1", root, claim=False)
    assert parent is not None
    assert parent.invocation.status is WorkflowStatus.PENDING
    assert parent.outcomes == {0: b"o0", 1: b"o1"}
    kid = store.get_invocation("wf-1", kids[1])
    assert kid is not None
    assert (kid.status, kid.outcome) == (WorkflowStatus.COMPLETED, b"o1")


def test_a_finish_that_loses_its_race_tells_the_parent_nothing(store: StateStore) -> None:
    # Given a parent suspended on one child, and another writer ahead of the child
    root, (kid,) = _parent_with_children(store, 1)
    assert store.commit("wf-1", kid, Batch(0, [b"winner"])).ok
    # When the child commits a finish from a stale base
    result = _finish_telling(store, kid, 0, b"o0")
    # Then nothing was written: no outcome in the parent, which stays suspended
    assert (result.ok, result.parent) == (False, None)
    parent = store.load("wf-1", root, claim=False)
    assert parent is not None
    assert parent.outcomes == {}
    assert parent.invocation.status is WorkflowStatus.SUSPENDED


def test_finishes_and_records_racing_on_one_parent_wake_it_once(
    backend: StoreUnderTest, store: StateStore
) -> None:
    # Given a parent suspended on RACERS children
    root, kids = _parent_with_children(store, RACERS)
    # When half record through their finishing commit and half through record_outcome
    calls = [
        (
            racers.finish_telling if i % 2 else racers.record,
            (("wf-1", kids[i], root, i) if i % 2 else ("wf-1", root, i)),
            (
                (lambda s, i=i: _wakes(_finish_telling(s, kids[i], i, f"out-{i}".encode())))
                if i % 2
                else (lambda s, i=i: s.record_outcome("wf-1", root, i, f"out-{i}".encode()).wake)
            ),
        )
        for i in range(RACERS)
    ]
    wakes = _race(backend, store, calls)
    # Then exactly one of them wakes it, and every outcome is there
    assert wakes.count(True) == 1
    snap = store.load("wf-1", root, claim=False)
    assert snap is not None
    assert snap.outcomes == {i: f"out-{i}".encode() for i in range(RACERS)}


def _wakes(result: Any) -> bool:
    return bool(result.parent is not None and result.parent.wake)


def test_outcome_for_unknown_invocation_is_ignored(store: StateStore) -> None:
    result = store.record_outcome("missing", "missing", 0, b"x")
    assert (result.recorded, result.wake) == (False, False)


# -- finishing, cancel, retention --------------------------------------------------------


def test_finishing_root_finishes_workflow_but_child_does_not(store: StateStore) -> None:
    # Given a workflow with a plain child
    inv = _started(store)
    store.load("wf-1", inv)
    child = invocation("wf-1", "c1", parent_invocation_id=inv, parent_seq=0)
    store.commit("wf-1", inv, Batch(0, [b"start"], children=[child], suspend=[0]))
    # When the child completes
    store.load("wf-1", "c1")
    store.commit("wf-1", "c1", Batch(0, finish=Finish(WorkflowStatus.COMPLETED, b"child")))
    # Then the workflow is still suspended
    mid = store.get_workflow("wf-1")
    assert mid is not None
    assert mid.status is WorkflowStatus.SUSPENDED
    # When the root fails
    store.load("wf-1", inv)
    store.commit("wf-1", inv, Batch(1, finish=Finish(WorkflowStatus.FAILED, b"boom")))
    # Then the workflow is FAILED with the outcome on the root invocation
    end = store.load("wf-1", inv)
    assert end is not None
    assert end.workflow.status is WorkflowStatus.FAILED
    assert end.invocation.status is WorkflowStatus.FAILED
    assert end.invocation.outcome == b"boom"
    assert end.invocation.attempts == 2  # a finished invocation is not claimed again


def test_cancel_flag_is_persistent_and_reported(store: StateStore) -> None:
    inv = _started(store)
    record = store.request_cancel("wf-1")
    assert record is not None
    assert record.cancel_requested is True
    snap = store.load("wf-1", inv)
    assert snap is not None
    assert snap.workflow.cancel_requested is True
    assert store.commit("wf-1", inv, Batch(0, [b"x"])).cancel_requested is True


def test_a_suspension_reports_a_cancel_flag_set_after_the_load(store: StateStore) -> None:
    # Given an invocation loaded before its workflow's cancel flag was set (a cancel walk saw
    # it running, so it will not wake it)
    inv = _started(store)
    store.load("wf-1", inv)
    store.request_cancel("wf-1")
    # When the run suspends on something still missing
    result = store.commit("wf-1", inv, Batch(0, [b"s0"], suspend=[0]))
    # Then the suspension went in, and its result carries the flag: the engine delivers the
    # cancel at once instead of sleeping on
    assert result.ok
    assert not result.ready
    assert result.cancel_requested is True


def test_retention_purges_only_expired_finished_workflows(store: StateStore) -> None:
    # Given one finished and one running workflow
    done = _started(store, "done")
    running = _started(store, "running")
    store.load("running", running)
    store.commit("done", done, Batch(0, [b"a"], finish=Finish(WorkflowStatus.COMPLETED, b"r")))
    # When purging before and after the retention (60 s in the fixture)
    early = store.purge_expired(time.time())
    late = store.purge_expired(time.time() + 120)
    # Then only the finished workflow goes, with all it holds
    assert (early, late) == (0, 1)
    assert store.get_workflow("done") is None
    assert store.load("done", done) is None
    assert store.get_workflow("running") is not None
    assert [w.workflow_id for w in store.list_workflows()] == ["running"]


def test_closed_store_raises_unavailable(backend: StoreUnderTest) -> None:
    store = backend.make()
    store.close()
    with pytest.raises(StoreUnavailableError):
        store.get_workflow("x")


def test_invocation_records_round_trip_every_field(store: StateStore) -> None:
    # Given a child invocation with every optional field set
    inv = _started(store)
    child = invocation("wf-1", "c1", task="charge", parent_invocation_id=inv, parent_seq=3)
    child = child.model_copy(
        update={"parent_task_name": "order", "args": b"\x00\xffargs", "cancel_shielded": True}
    )
    store.commit("wf-1", inv, Batch(0, [b"start"], children=[child]))
    # When it is read back
    stored = store.get_invocation("wf-1", "c1")
    # Then nothing was lost or changed
    assert stored == child
    assert stored is not None
    assert stored.parent_ref is not None
    assert stored.parent_ref.task_name == "order"


def test_workflow_records_round_trip_every_field(store: StateStore) -> None:
    record, root = workflow("wf-full", parent="p", root="p")
    record = record.model_copy(
        update={
            "idempotency_key": "key-1",
            "deadline": 1234.5,
            "parent_invocation_id": "p.3",
            "seed": bytes(range(256))[-32:],  # every byte value a store could mangle: 0xe0..
        }
    )
    store.create_workflow(record, root)
    assert store.get_workflow("wf-full") == record
    snap = store.load("wf-full", root.invocation_id, claim=False)
    assert snap is not None
    assert snap.workflow == record


def test_workflow_seeds_round_trip_and_differ_across_workflows(store: StateStore) -> None:
    # Given two workflows of one task started by the engine, and one stored without a seed
    # (as the versions before seeds stored it)
    runner = LocalRunner(store)

    @runner.task
    def flow() -> str:
        return flow.wf.uuid()

    first, second = runner.start(flow), runner.start(flow)
    legacy, legacy_root = workflow("wf-legacy")
    store.create_workflow(legacy, legacy_root)
    # Then every read returns each workflow's own secret seed
    seeds = []
    for workflow_id in (first, second):
        record = store.get_workflow(workflow_id)
        assert record is not None
        assert record.seed is not None
        assert len(record.seed) == 32
        snap = store.load(workflow_id, workflow_id, claim=False)
        assert snap is not None
        assert snap.workflow.seed == record.seed
        assert [w.seed for w in store.list_workflows() if w.workflow_id == workflow_id] == [
            record.seed
        ]
        seeds.append(record.seed)
    assert seeds[0] != seeds[1]
    stored_legacy = store.get_workflow("wf-legacy")
    assert stored_legacy is not None
    assert stored_legacy.seed is None


def test_the_same_key_on_two_stores_draws_different_values(store: StateStore) -> None:
    # Given one workflow started with the same idempotency key on this store and on another
    def run(on: StateStore) -> tuple[str, str]:
        runner = LocalRunner(on)

        @runner.task
        def pay() -> str:
            return f"PAY-{pay.wf.uuid()}"

        record, _ = runner.engine.start(pay.spec, idempotency_key="order-42")
        runner.run_until_idle()
        return record.workflow_id, runner.engine.result(record.workflow_id)

    here, elsewhere = run(store), run(MemoryStore())
    # Then they are one workflow id (the key's) but their "random" payment ids differ
    assert here[0] == elsewhere[0]
    assert here[1] != elsewhere[1]


# -- recovery candidates -----------------------------------------------------------------


def _ids(records: Sequence[InvocationRecord]) -> list[tuple[str, str]]:
    return [(r.workflow_id, r.invocation_id) for r in records]


def test_heartbeat_never_moves_updated_at_back(store: StateStore) -> None:
    # Given a running invocation held until an hour from now (a queue's retry backoff)
    inv = _started(store, "wf-1")
    store.load("wf-1", inv)
    ref = InvocationRef("wf-1", inv, "order")
    held = time.time() + 3600
    store.heartbeat([ref], held)
    # When a worker's heartbeat with an earlier time comes after it
    store.heartbeat([ref], time.time())
    # Then the hold stands, for the invocation and its workflow: no sweep takes it for stale
    assert _updated(store, "wf-1", inv) == held
    workflow_record = store.get_workflow("wf-1")
    assert workflow_record is not None
    assert workflow_record.updated_at == held
    assert store.recover_candidates(older_than=held - 1, now=time.time()) == []


def test_heartbeat_refreshes_running_invocations_only(store: StateStore) -> None:
    # Given a running root, a suspended one, a finished one, and a ref to nothing
    running, suspended, finished = (_started(store, f"wf-{n}") for n in (1, 2, 3))
    for wid, inv in (("wf-1", running), ("wf-2", suspended), ("wf-3", finished)):
        store.load(wid, inv)
    store.commit("wf-2", suspended, Batch(0, suspend=[0]))
    store.commit("wf-3", finished, Batch(0, finish=Finish(WorkflowStatus.COMPLETED, b"r")))
    before = {
        wid: _updated(store, wid, inv) for wid, inv in (("wf-2", suspended), ("wf-3", finished))
    }
    later = time.time() + 3600
    refs = [
        InvocationRef("wf-1", running, "order"),
        InvocationRef("wf-2", suspended, "order"),
        InvocationRef("wf-3", finished, "order"),
        InvocationRef("missing", "missing", "order"),
    ]
    # When a worker marks them alive
    store.heartbeat(refs, later)
    # Then only the running one (and its workflow, whose root it is) moved; a sweep no longer
    # takes it for stale
    assert _updated(store, "wf-1", running) == later
    workflow_record = store.get_workflow("wf-1")
    assert workflow_record is not None
    assert workflow_record.updated_at == later
    assert {
        wid: _updated(store, wid, inv) for wid, inv in (("wf-2", suspended), ("wf-3", finished))
    } == before
    claimed = store.recover_candidates(older_than=later - 1, now=later)
    assert [(r.workflow_id, r.invocation_id) for r in claimed] == [("wf-2", suspended)]
    assert store.get_invocation("missing", "missing") is None


def _updated(store: StateStore, workflow_id: str, invocation_id: str) -> float:
    record = store.get_invocation(workflow_id, invocation_id)
    assert record is not None
    return record.updated_at


def test_recover_candidates_is_empty_when_nothing_is_stale(store: StateStore) -> None:
    # Given an empty store, then fresh pending, running and suspended invocations
    assert store.recover_candidates(older_than=time.time(), now=time.time()) == []
    _started(store, "wf-a")
    running = _started(store, "wf-b")
    store.load("wf-b", running)
    suspended = _started(store, "wf-c")
    store.load("wf-c", suspended)
    store.commit("wf-c", suspended, Batch(0, [b"s"], suspend=[0]))
    # When sweeping for invocations idle for a minute
    found = store.recover_candidates(older_than=time.time() - 60, now=time.time())
    # Then there are none
    assert found == []


def test_recover_candidates_claims_stale_unfinished_invocations_oldest_first(
    store: StateStore,
) -> None:
    # Given a pending root, a suspended root with a never-run child, a running root and a
    # finished one, all before the bound
    t = time.time()
    record, root = workflow("wf-a", created_at=t - 100)
    store.create_workflow(record, root)
    suspended = _started(store, "wf-b")
    store.load("wf-b", suspended)
    child = invocation(
        "wf-b", "wf-b.0", parent_invocation_id=suspended, parent_seq=0, created_at=t - 90
    )
    store.commit("wf-b", suspended, Batch(0, [b"start"], children=[child], suspend=[0]))
    running = _started(store, "wf-c")
    store.load("wf-c", running)
    done = _started(store, "wf-d")
    store.load("wf-d", done)
    store.commit("wf-d", done, Batch(0, finish=Finish(WorkflowStatus.COMPLETED, b"r")))
    older_than = time.time()
    now = older_than + 5
    expected = [("wf-a", "wf-a-root"), ("wf-b", "wf-b.0"), ("wf-b", suspended), ("wf-c", running)]
    before = [store.get_invocation(wid, iid) for wid, iid in expected]
    finished_before = store.get_workflow("wf-d")
    # When sweeping
    claimed = store.recover_candidates(older_than=older_than, now=now)
    # Then the unfinished ones come back, oldest update first, claimed with updated_at = now
    assert _ids(claimed) == expected
    assert [r.status for r in claimed] == [
        WorkflowStatus.PENDING,
        WorkflowStatus.PENDING,
        WorkflowStatus.SUSPENDED,
        WorkflowStatus.RUNNING,
    ]
    for got, old in zip(claimed, before, strict=True):
        assert old is not None
        assert got == old.model_copy(update={"updated_at": now})
        assert store.get_invocation(got.workflow_id, got.invocation_id) == got
    # And the workflow record follows its root's update (its status does not change)
    for wid in ("wf-a", "wf-b", "wf-c"):
        stored = store.get_workflow(wid)
        assert stored is not None
        assert stored.updated_at == now
    assert store.get_workflow("wf-d") == finished_before
    # And a second sweep over the same stale period finds them claimed
    assert store.recover_candidates(older_than=older_than, now=now + 1) == []


def test_recover_candidates_respects_limit(store: StateStore) -> None:
    # Given five stale roots created out of order, two of them updated at the same instant
    t = time.time()
    ages = {"wf-3": 98.0, "wf-0": 100.0, "wf-4": 97.0, "wf-2": 99.0, "wf-1": 99.0}
    for wid, age in ages.items():
        record, root = workflow(wid, created_at=t - age)
        store.create_workflow(record, root)
    bound = {"older_than": t - 10, "now": t}
    # When sweeping with a limit of 0, then 2, then 10
    none = store.recover_candidates(**bound, limit=0)
    first = store.recover_candidates(**bound, limit=2)
    rest = store.recover_candidates(**bound, limit=10)
    # Then each sweep claims at most its limit, oldest first (equal times by workflow id)
    assert none == []
    assert [r.workflow_id for r in first] == ["wf-0", "wf-1"]
    assert [r.workflow_id for r in rest] == ["wf-2", "wf-3", "wf-4"]
    assert store.recover_candidates(**bound, limit=10) == []


def test_recover_candidates_goes_by_the_last_update(store: StateStore) -> None:
    # Given an invocation created long ago, claimed at c and suspended at s (later) on two
    # children, and a pending root created between c and s
    t = time.time()
    record, root = workflow("wf-x", created_at=t - 100)
    store.create_workflow(record, root)
    snap = store.load("wf-x", root.invocation_id)
    assert snap is not None
    time.sleep(0.02)
    store.commit("wf-x", root.invocation_id, Batch(0, [b"s"], suspend=[0, 1]))
    suspended = store.get_invocation("wf-x", root.invocation_id)
    assert suspended is not None
    c, s = snap.invocation.updated_at, suspended.updated_at
    assert c < s
    between, between_root = workflow("wf-y", created_at=(c + s) / 2)
    store.create_workflow(between, between_root)
    # When sweeping for one invocation, then with a bound between c and s
    later = t + 3600  # claims below stamp this, so the claimed stay out of later sweeps
    oldest = store.recover_candidates(older_than=time.time(), now=later, limit=1)
    mid = store.recover_candidates(older_than=(c + s) / 2, now=later)
    # Then the oldest by last update came first, and one updated after the bound never does
    assert _ids(oldest) == [("wf-y", between_root.invocation_id)]
    assert mid == []
    # Given the suspended one then woken (updated at w) by its second outcome
    time.sleep(0.02)
    store.record_outcome("wf-x", root.invocation_id, 0, b"o0")
    assert store.record_outcome("wf-x", root.invocation_id, 1, b"o1").wake is True
    woken = store.get_invocation("wf-x", root.invocation_id)
    assert woken is not None
    assert woken.updated_at > s
    # When sweeping with a bound between s and w, then after w
    before_wake = store.recover_candidates(older_than=s, now=later)
    after_wake = store.recover_candidates(older_than=woken.updated_at, now=later)
    # Then only the second sweep finds it, pending
    assert before_wake == []
    assert _ids(after_wake) == [("wf-x", root.invocation_id)]
    assert after_wake[0].status is WorkflowStatus.PENDING


def test_racing_sweepers_claim_each_invocation_once(
    backend: StoreUnderTest, store: StateStore
) -> None:
    # Given 20 stale invocations
    t = time.time()
    expected = []
    for i in range(20):
        record, root = workflow(f"wf-{i:02d}", created_at=t - 100 + i)
        store.create_workflow(record, root)
        expected.append((record.workflow_id, root.invocation_id))
    older_than, now = t - 10, t
    calls = [
        (
            racers.recover,
            (older_than, now),
            lambda s: _ids(s.recover_candidates(older_than=older_than, now=now)),
        )
        for _ in range(RACERS)
    ]
    # When RACERS sweepers sweep at one instant with the same bounds
    results = _race(backend, store, calls)
    # Then every invocation went to exactly one of them
    claimed = [pair for result in results for pair in result]
    assert sorted(claimed) == expected
    assert store.recover_candidates(older_than=older_than, now=now) == []


# -- queue pushes ------------------------------------------------------------------------


def test_queue_pushes_are_written_or_refused_never_dropped(store: StateStore) -> None:
    # Given a message to write with a creation and one with a commit
    queue = f"test-queue-{uuid.uuid4().hex}"  # on Redis: keys of this test alone
    push = QueuePush(queue, queue + ".msgs", "m1", b"body")
    record, root = workflow("wf-1")
    if getattr(store, "writes_pushes", False):
        # Then a store that writes pushes takes both
        assert store.create_workflow(record, root, push=push)[1]
        store.load("wf-1", root.invocation_id)
        assert store.commit("wf-1", root.invocation_id, Batch(0, [b"e"], pushes=[push])).pushed
        return
    # Else both are refused with a clear error, and nothing is written
    with pytest.raises(ConfigurationError, match="cannot write queue messages"):
        store.create_workflow(record, root, push=push)
    assert store.get_workflow("wf-1") is None
    store.create_workflow(record, root)
    store.load("wf-1", root.invocation_id)
    batches = [Batch(0, [b"e"], pushes=[push]), Batch(0, [b"e"], parent_push=push)]
    batches.append(Batch(0, [b"e"], suspend=[0], suspend_push=push))
    receipt = QueueReceipt(queue + ".acks", queue + ".msgs", "m0")
    batches.append(Batch(0, [b"e"], suspend=[0], receipt=receipt))
    for batch in batches:
        with pytest.raises(ConfigurationError, match="cannot write queue messages"):
            store.commit("wf-1", root.invocation_id, batch)
    snap = store.load("wf-1", root.invocation_id, claim=False)
    assert snap is not None
    assert snap.entries == []
