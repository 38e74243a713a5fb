"""The signal operations of the storage contract, run against every store: memory, SQLite
and a real Redis (RESP3 and RESP2)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.store import racers
from tests.store.conftest import StoreUnderTest
from tests.store.records import invocation, workflow
from tests.store.test_conformance import RACERS, _race, _started
from wfcore._models import Batch, Finish, InvocationRef, SignalTake, WorkflowStatus
from wfcore.store import StateStore
from wfcore.store.redis import RedisStore


def _take(
    store: StateStore, inv: str, seq: int, *, wait: bool, suspend: bool = False
) -> bytes | None:
    """Commit one entry at ``seq`` that takes a signal "go" there (or waits for one)."""
    batch = Batch(
        seq,
        [f"e{seq}".encode()],
        signal=SignalTake("go", seq, wait),
        suspend=[seq] if suspend else None,
    )
    result = store.commit("wf-1", inv, batch)
    assert result.ok
    return result.signal


def test_signals_to_an_unknown_workflow_are_refused(store: StateStore) -> None:
    # When a signal goes to a workflow that does not exist
    sent = store.send_signal("nope", "go", b"p", signal_id="id-1")
    # Then the store says so and keeps nothing
    assert (sent.status, sent.accepted, sent.duplicate, sent.wake) == (None, False, False, False)
    assert store.get_workflow("nope") is None


def test_buffered_signals_are_taken_in_acceptance_order(store: StateStore) -> None:
    # Given three signals sent before anyone waits, and one of another name
    inv = _started(store)
    store.load("wf-1", inv)
    for payload in (b"s1", b"s2", b"s3"):
        sent = store.send_signal("wf-1", "go", payload)
        assert (sent.accepted, sent.wake, sent.waiter) == (True, False, None)
    store.send_signal("wf-1", "other", b"x")
    # When four commits each take the next one without waiting
    taken = [_take(store, inv, seq, wait=False) for seq in range(4)]
    # Then they come oldest first, each recorded as the outcome at its seq; then none
    assert taken == [b"s1", b"s2", b"s3", None]
    snap = store.load("wf-1", inv, claim=False)
    assert snap is not None
    assert snap.outcomes == {0: b"s1", 1: b"s2", 2: b"s3"}


def test_a_signal_to_a_suspended_waiter_is_recorded_there_and_wakes_it_once(
    store: StateStore,
) -> None:
    # Given an invocation that registered a wait at seq 0 and suspended on it
    inv = _started(store)
    store.load("wf-1", inv)
    assert _take(store, inv, 0, wait=True, suspend=True) is None
    # When two signals arrive
    first = store.send_signal("wf-1", "go", b"s1")
    second = store.send_signal("wf-1", "go", b"s2")
    # Then the first is delivered and wakes it, the second is buffered for the next wait
    assert (first.accepted, first.wake) == (True, True)
    assert first.waiter == InvocationRef("wf-1", inv, "order")
    assert (second.accepted, second.wake, second.waiter) == (True, False, None)
    snap = store.load("wf-1", inv, claim=False)
    assert snap is not None
    assert snap.invocation.status is WorkflowStatus.PENDING
    assert snap.outcomes == {0: b"s1"}
    store.load("wf-1", inv)
    assert _take(store, inv, 1, wait=True) == b"s2"


def test_a_signal_to_a_running_waiter_is_recorded_without_a_wake(store: StateStore) -> None:
    # Given a wait registered by a run that has not suspended yet
    inv = _started(store)
    store.load("wf-1", inv)
    _take(store, inv, 0, wait=True)
    # When the signal arrives
    sent = store.send_signal("wf-1", "go", b"s1")
    # Then it is recorded for that wait, and the suspension that follows is refused (ready)
    assert (sent.accepted, sent.wake) == (True, False)
    result = store.commit("wf-1", inv, Batch(1, [b"suspended"], suspend=[0]))
    assert (result.ok, result.ready) == (True, True)


def test_a_signal_id_is_accepted_once(store: StateStore) -> None:
    # Given a signal accepted with an id
    inv = _started(store)
    assert store.send_signal("wf-1", "go", b"s1", signal_id="ticket-77").accepted
    # When the client retries it, and sends another with a new id
    retry = store.send_signal("wf-1", "go", b"s1", signal_id="ticket-77")
    other = store.send_signal("wf-1", "go", b"s2", signal_id="ticket-78")
    # Then the retry stores nothing and says so
    assert (retry.accepted, retry.duplicate) == (False, True)
    assert (other.accepted, other.duplicate) == (True, False)
    store.load("wf-1", inv)
    assert [_take(store, inv, seq, wait=False) for seq in range(3)] == [b"s1", b"s2", None]


def test_signals_to_a_finished_workflow_are_refused_but_retries_learn_of_their_acceptance(
    store: StateStore,
) -> None:
    # Given a workflow that accepted a signal with an id, then finished
    inv = _started(store)
    store.send_signal("wf-1", "go", b"s1", signal_id="ticket-77")
    store.commit("wf-1", inv, Batch(0, finish=Finish(WorkflowStatus.COMPLETED, b"r")))
    # When a new signal and a retry of the accepted one arrive
    late = store.send_signal("wf-1", "go", b"s2", signal_id="ticket-78")
    retry = store.send_signal("wf-1", "go", b"s1", signal_id="ticket-77")
    # Then the new one is refused with the workflow's status, the retry is a duplicate
    assert (late.status, late.accepted, late.duplicate) == (WorkflowStatus.COMPLETED, False, False)
    assert (retry.accepted, retry.duplicate) == (False, True)
    assert store.send_signal("wf-1", "go", b"s3", signal_id="ticket-78").duplicate is False


def test_a_wait_whose_timeout_won_leaves_the_signal_buffered(store: StateStore) -> None:
    # Given a suspended wait whose timeout was recorded first
    inv = _started(store)
    store.load("wf-1", inv)
    _take(store, inv, 0, wait=True, suspend=True)
    assert store.record_outcome("wf-1", inv, 0, b"timeout").wake
    # When the signal comes late
    sent = store.send_signal("wf-1", "go", b"late")
    # Then the timeout stays the outcome, and the signal waits for the next wait
    assert (sent.accepted, sent.wake, sent.waiter) == (True, False, None)
    snap = store.load("wf-1", inv)
    assert snap is not None
    assert snap.outcomes == {0: b"timeout"}
    assert _take(store, inv, 1, wait=True) == b"late"


def test_two_waiters_are_served_in_the_order_they_registered(store: StateStore) -> None:
    # Given a root and a child invocation of one workflow, both waiting for "go"
    inv = _started(store)
    store.load("wf-1", inv)
    child = invocation("wf-1", "kid", task="kid")
    store.commit("wf-1", inv, Batch(0, [b"start"], children=[child]))
    store.load("wf-1", "kid")
    store.commit("wf-1", "kid", Batch(0, [b"w"], signal=SignalTake("go", 0, True), suspend=[0]))
    store.commit("wf-1", inv, Batch(1, [b"w"], signal=SignalTake("go", 1, True), suspend=[1]))
    # When two signals arrive
    first = store.send_signal("wf-1", "go", b"s1")
    second = store.send_signal("wf-1", "go", b"s2")
    # Then the first registered wait gets the first signal, the other the second
    assert first.waiter is not None
    assert first.waiter.invocation_id == "kid"
    assert second.waiter is not None
    assert second.waiter.invocation_id == inv
    assert (first.wake, second.wake) == (True, True)


def test_waits_of_finished_invocations_are_skipped(store: StateStore) -> None:
    # Given a child that registered a wait and then finished (its workflow goes on)
    inv = _started(store)
    store.load("wf-1", inv)
    store.commit("wf-1", inv, Batch(0, [b"start"], children=[invocation("wf-1", "kid")]))
    store.commit("wf-1", "kid", Batch(0, [b"w"], signal=SignalTake("go", 0, True)))
    store.commit("wf-1", "kid", Batch(1, finish=Finish(WorkflowStatus.CANCELLED, b"c")))
    # When a signal arrives
    sent = store.send_signal("wf-1", "go", b"s1")
    # Then it is buffered, not lost in the finished invocation
    assert (sent.accepted, sent.waiter) == (True, None)
    assert _take(store, inv, 1, wait=False) == b"s1"


def test_a_lost_commit_neither_takes_nor_registers(store: StateStore) -> None:
    # Given a buffered signal and a history one entry long
    inv = _started(store)
    store.load("wf-1", inv)
    store.commit("wf-1", inv, Batch(0, [b"first"]))
    store.send_signal("wf-1", "go", b"s1")
    # When a writer that lost the race tries to take it at seq 0
    lost = store.commit("wf-1", inv, Batch(0, [b"w"], signal=SignalTake("go", 0, True)))
    # Then the signal stays for the winner
    assert (lost.ok, lost.signal) == (False, None)
    assert _take(store, inv, 1, wait=False) == b"s1"


def test_racing_signals_wake_a_waiter_once_and_lose_none(
    backend: StoreUnderTest, store: StateStore
) -> None:
    # Given a suspended waiter
    inv = _started(store)
    store.load("wf-1", inv)
    _take(store, inv, 0, wait=True, suspend=True)
    payloads = [f"s{i}".encode() for i in range(RACERS)]
    calls = [(racers.signal, ("wf-1", p, None), _sender(p)) for p in payloads]
    # When RACERS signals arrive at one instant
    results = _race(backend, store, calls)
    # Then all are accepted, exactly one wakes the waiter, the rest wait in the buffer
    assert all(accepted for accepted, _, _ in results)
    assert [wake for _, _, wake in results].count(True) == 1
    snap = store.load("wf-1", inv)
    assert snap is not None
    delivered = snap.outcomes[0]
    rest = [_take(store, inv, seq, wait=False) for seq in range(1, RACERS + 1)]
    assert rest[-1] is None
    assert sorted([delivered, *(r for r in rest if r is not None)]) == sorted(payloads)


def test_racing_retries_of_one_signal_id_are_accepted_once(
    backend: StoreUnderTest, store: StateStore
) -> None:
    # Given a running workflow
    inv = _started(store)
    calls = [
        (racers.signal, ("wf-1", b"once", "ticket-1"), lambda s: _sent(s, b"once", "ticket-1"))
        for _ in range(RACERS)
    ]
    # When RACERS copies of one signal (one id) arrive at one instant
    results = _race(backend, store, calls)
    # Then one is accepted, every other is told it is a duplicate, one is stored
    assert [accepted for accepted, _, _ in results].count(True) == 1
    assert [dup for _, dup, _ in results].count(True) == RACERS - 1
    store.load("wf-1", inv)
    assert [_take(store, inv, seq, wait=False) for seq in range(2)] == [b"once", None]


def _sender(payload: bytes) -> Callable[[StateStore], tuple[bool, bool, bool]]:
    return lambda s: _sent(s, payload, None)


def _sent(store: StateStore, payload: bytes, signal_id: str | None) -> tuple[bool, bool, bool]:
    sent = store.send_signal("wf-1", "go", payload, signal_id=signal_id)
    return sent.accepted, sent.duplicate, sent.wake


def test_list_data_returns_every_key(store: StateStore) -> None:
    # Given a workflow with two data values, and another workflow with one
    inv = _started(store)
    other = _started(store, "wf-2")
    store.commit("wf-1", inv, Batch(0, data={"b": b"2", "a": b"1"}))
    store.commit("wf-2", other, Batch(0, data={"c": b"3"}))
    # When its data is listed
    # Then each workflow sees its own, and an unknown one none
    assert store.list_data("wf-1") == {"a": b"1", "b": b"2"}
    assert store.list_data("wf-2") == {"c": b"3"}
    assert store.list_data("nope") == {}


def test_retention_purges_signals_with_the_workflow(store: StateStore) -> None:
    # Given a finished workflow that had buffered signals and a registered wait
    inv = _started(store)
    store.load("wf-1", inv)
    store.commit("wf-1", inv, Batch(0, [b"w"], signal=SignalTake("wait", 0, True)))
    store.send_signal("wf-1", "go", b"s1", signal_id="ticket-1")
    store.commit("wf-1", inv, Batch(1, finish=Finish(WorkflowStatus.COMPLETED, b"r")))
    # When it is purged and a workflow of the same id is created again
    assert store.purge_expired(time.time() + 120) == 1
    inv = _started(store)
    store.load("wf-1", inv)
    # Then nothing of the old signals is left: not the buffer, the wait, nor the ids
    assert store.send_signal("wf-1", "go", b"s2", signal_id="ticket-1").duplicate is False
    assert store.send_signal("wf-1", "wait", b"w1").waiter is None
    assert _take(store, inv, 0, wait=False) == b"s2"


@pytest.mark.parametrize("protocol", ["", "&protocol=2"])
def test_another_prefix_cannot_reach_the_workflow(redis_url: str, protocol: str) -> None:
    # Given a workflow in one tenant's Redis store
    sep = "&" if "?" in redis_url else "?"
    mine = RedisStore(f"{redis_url}{sep}prefix=tenant-a{protocol}")
    theirs = RedisStore(f"{redis_url}{sep}prefix=tenant-b{protocol}")
    try:
        record, root = workflow(f"wf-{time.time_ns()}")
        mine.create_workflow(record, root)
        # When another tenant signals that id
        sent = theirs.send_signal(record.workflow_id, "go", b"p")
        # Then it finds no such workflow, and the tenant's own signal stays unbuffered
        assert (sent.status, sent.accepted) == (None, False)
        mine.load(record.workflow_id, root.invocation_id)
        batch = Batch(0, [b"e"], signal=SignalTake("go", 0, False))
        assert mine.commit(record.workflow_id, root.invocation_id, batch).signal is None
    finally:
        mine.close()
        theirs.close()
