"""``Batch.pushes`` on ``RedisStore``: queue messages written by the commit that needs them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from tests.store.records import invocation, workflow
from wfcore._models import (
    Batch,
    CommitResult,
    Finish,
    InvocationRecord,
    ParentOutcome,
    QueuePush,
    QueueReceipt,
    WorkflowStatus,
)
from wfcore.store.redis import RedisStore

pytestmark = pytest.mark.redis


def _push(prefix: str, message_id: str) -> QueuePush:
    queue = f"{prefix}-dramatiq:default"
    return QueuePush(queue, queue + ".msgs", message_id, f"body of {message_id}".encode())


def _queued(raw: redis.Redis, prefix: str) -> list[tuple[str, bytes | None]]:
    """(message id, stored body) of every message in the queue, in order."""
    queue = f"{prefix}-dramatiq:default"
    ids: list[bytes] = raw.lrange(queue, 0, -1)  # type: ignore[assignment]
    return [(i.decode(), raw.hget(queue + ".msgs", i.decode())) for i in ids]  # type: ignore[misc]


def _children(inv: str, *seqs: int) -> list[InvocationRecord]:
    """Children of ``inv`` in wf-1, ``c<seq>``, awaited at those seqs."""
    return [invocation("wf-1", f"c{i}", parent_invocation_id=inv, parent_seq=i) for i in seqs]


def _status(store: RedisStore, invocation_id: str) -> WorkflowStatus:
    snap = store.load("wf-1", invocation_id, claim=False)
    assert snap is not None
    return snap.invocation.status


def _commit_child(store: RedisStore, inv: str, prefix: str) -> CommitResult:
    """Commit child c0 of ``inv`` at base 0 with its message m0."""
    batch = Batch(0, [b"e0"], children=_children(inv, 0), pushes=[_push(prefix, "m0")])
    return store.commit("wf-1", inv, batch)


def _root(store: RedisStore, workflow_id: str = "wf-1") -> str:
    record, root = workflow(workflow_id)
    store.create_workflow(record, root)
    store.load(workflow_id, root.invocation_id)
    return root.invocation_id


def test_a_written_batch_writes_its_pushes_in_order(
    make: Callable[..., RedisStore], raw: redis.Redis, prefix: str
) -> None:
    # Given a running root
    store = make()
    inv = _root(store)
    children = _children(inv, 0, 1)
    pushes = [_push(prefix, "m0"), _push(prefix, "m1")]
    # When a commit records two children with their messages
    result = store.commit("wf-1", inv, Batch(0, [b"e0", b"e1"], children=children, pushes=pushes))
    # Then both messages are queued, ids in order and bodies stored, and the result says so
    assert result.ok
    assert result.pushed
    assert _queued(raw, prefix) == [("m0", b"body of m0"), ("m1", b"body of m1")]


def test_a_batch_that_lost_writes_no_push(
    make: Callable[..., RedisStore], raw: redis.Redis, prefix: str
) -> None:
    # Given a root whose history another writer already extended
    store = make()
    inv = _root(store)
    assert store.commit("wf-1", inv, Batch(0, [b"winner"])).ok
    # When a stale writer commits a child with its message
    result = _commit_child(store, inv, prefix)
    # Then nothing was written, the message included
    assert not result.ok
    assert not result.pushed
    assert result.winners == [b"winner"]
    assert _queued(raw, prefix) == []


def test_a_cancel_flag_holds_the_pushes_back_for_the_caller(
    make: Callable[..., RedisStore], raw: redis.Redis, prefix: str
) -> None:
    # Given a running root whose workflow has a cancel request
    store = make()
    inv = _root(store)
    store.request_cancel("wf-1")
    # When it commits a child with its message
    result = _commit_child(store, inv, prefix)
    # Then the batch is written but the message is not: the caller must pass the cancel on
    # and send it itself
    assert result.ok
    assert result.cancel_requested
    assert not result.pushed
    assert store.load("wf-1", "c0", claim=False) is not None
    assert _queued(raw, prefix) == []


def test_a_parent_push_is_written_only_by_the_finish_that_wakes_the_parent(
    make: Callable[..., RedisStore], raw: redis.Redis, prefix: str
) -> None:
    # Given a root suspended on two children
    store = make()
    inv = _root(store)
    kids = _children(inv, 0, 1)
    assert store.commit("wf-1", inv, Batch(0, [b"s0", b"s1"], children=kids, suspend=[0, 1])).ok
    for i in (0, 1):
        # When each child finishes, naming the parent's wake-up message
        store.load("wf-1", f"c{i}")
        done = Finish(WorkflowStatus.COMPLETED, f"r{i}".encode())
        batch = Batch(
            0, finish=done, parent=ParentOutcome(inv, i), parent_push=_push(prefix, f"w{i}")
        )
        result = store.commit("wf-1", f"c{i}", batch)
        # Then only the last one, which wakes the parent, wrote its message
        assert result.ok
        assert result.parent is not None
        assert result.parent.wake is (i == 1)
    assert _queued(raw, prefix) == [("w1", b"body of w1")]
    assert _status(store, inv) is WorkflowStatus.PENDING


def test_a_suspend_push_is_written_only_by_a_suspension_that_applies(
    make: Callable[..., RedisStore], raw: redis.Redis, prefix: str
) -> None:
    # Given a root with one child whose outcome is recorded and one whose outcome is not
    store = make()
    inv = _root(store)
    kids = _children(inv, 0, 1)
    assert store.commit("wf-1", inv, Batch(0, [b"s0", b"s1"], children=kids)).ok
    store.record_outcome("wf-1", inv, 0, b"done")
    # When it suspends on the finished one with a timer's wake-up message
    ready = store.commit("wf-1", inv, Batch(2, suspend=[0], suspend_push=_push(prefix, "t0")))
    # Then the suspension is not applied (replay at once) and the message is not written
    assert ready.ok
    assert ready.ready
    assert _queued(raw, prefix) == []
    # When it suspends on the other one with such a message
    applied = store.commit("wf-1", inv, Batch(2, suspend=[1], suspend_push=_push(prefix, "t1")))
    # Then the suspension is applied and the message written with it
    assert applied.ok
    assert not applied.ready
    assert _queued(raw, prefix) == [("t1", b"body of t1")]
    assert _status(store, inv) is WorkflowStatus.SUSPENDED


def test_a_creation_writes_its_push_only_when_it_creates_the_workflow(
    make: Callable[..., RedisStore], raw: redis.Redis, prefix: str
) -> None:
    # Given a store
    store = make()
    record, root = workflow("wf-1")
    # When the workflow is created with its first message, then created again (an
    # idempotent start) with another
    first = store.create_workflow(record, root, push=_push(prefix, "m0"))
    again = store.create_workflow(record, root, push=_push(prefix, "m1"))
    # Then only the creating call wrote its message, with the records
    assert (first[1], again[1]) == (True, False)
    assert _queued(raw, prefix) == [("m0", b"body of m0")]
    assert store.load("wf-1", root.invocation_id, claim=False) is not None


def test_shares_server_compares_address_and_database(
    make: Callable[..., RedisStore], redis_url: str
) -> None:
    # Given a store on the test server's database 0
    store = make()
    # Then a client of that database shares its server; one of another database or port,
    # or logged in as another user, does not
    same = redis.Redis.from_url(redis_url)
    where = same.connection_pool.connection_kwargs
    host, port = where.get("host", "localhost"), int(where.get("port", 6379))
    others = [redis.Redis(host=host, port=port, db=3), redis.Redis(host=host, port=port + 1)]
    others.append(redis.Redis(host=host, port=port, username="someone-else"))
    try:
        assert store.shares_server(same)
        assert [store.shares_server(other) for other in others] == [False, False, False]
    finally:
        for client in (same, *others):
            client.close()


# -- Batch.receipt: the delivery of the message that ran the invocation, acknowledged by the
# -- write that ends the run ----------------------------------------------------------------


def _delivered(raw: redis.Redis, prefix: str, message_id: str) -> QueueReceipt:
    """A message fetched by a worker: its id in the worker's ack set, its body in the hash."""
    queue = f"{prefix}-dramatiq:default"
    receipt = QueueReceipt(
        f"{prefix}-dramatiq:__acks__.worker-1.default", queue + ".msgs", message_id
    )
    raw.sadd(receipt.acks, message_id)
    raw.hset(receipt.messages, message_id, b"body")
    return receipt


def _running(
    make: Callable[..., RedisStore], raw: redis.Redis, prefix: str
) -> tuple[RedisStore, str, QueueReceipt]:
    """A store, its running root ``wf-1`` delivered by message d0, and that delivery."""
    store = make()
    return store, _root(store), _delivered(raw, prefix, "d0")


def _unacked(raw: redis.Redis, receipt: QueueReceipt) -> tuple[bool, bool]:
    """Whether the id is still in the ack set, and the message still in the hash."""
    return bool(raw.sismember(receipt.acks, receipt.message_id)), bool(
        raw.hexists(receipt.messages, receipt.message_id)
    )


def test_a_suspension_that_applies_acknowledges_the_delivery(
    make: Callable[..., RedisStore], raw: redis.Redis, prefix: str
) -> None:
    # Given a running root delivered by message d0, with one child recorded
    store, inv, receipt = _running(make, raw, prefix)
    assert store.commit("wf-1", inv, Batch(0, [b"s0"], children=_children(inv, 0))).ok
    # When it suspends on the child, naming the delivery
    result = store.commit("wf-1", inv, Batch(1, suspend=[0], receipt=receipt))
    # Then the suspension and the acknowledgement are one write
    assert result.ok
    assert result.acked
    assert _unacked(raw, receipt) == (False, False)
    assert _status(store, inv) is WorkflowStatus.SUSPENDED


def test_writes_that_leave_work_to_a_redelivery_do_not_acknowledge(
    make: Callable[..., RedisStore], raw: redis.Redis, prefix: str
) -> None:
    # Given a running root delivered by d0, with a child whose outcome is already recorded
    store, inv, receipt = _running(make, raw, prefix)
    assert store.commit("wf-1", inv, Batch(0, [b"s0"], children=_children(inv, 0))).ok
    store.record_outcome("wf-1", inv, 0, b"done")
    # When it commits progress only, suspends on what is there (ready: the run goes on),
    # and writes a batch that lost to another writer
    progress = store.commit("wf-1", inv, Batch(1, [b"e1"], receipt=receipt))
    ready = store.commit("wf-1", inv, Batch(2, suspend=[0], receipt=receipt))
    lost = store.commit("wf-1", inv, Batch(0, suspend=[0], receipt=receipt))
    # Then none of them acknowledged the delivery
    assert progress.ok
    assert ready.ok
    assert ready.ready
    assert not lost.ok
    assert [progress.acked, ready.acked, lost.acked] == [False, False, False]
    assert _unacked(raw, receipt) == (True, True)


def test_a_cancel_flag_leaves_the_delivery_unacknowledged(
    make: Callable[..., RedisStore], raw: redis.Redis, prefix: str
) -> None:
    # Given a running root delivered by d0 whose workflow has a cancel request
    store, inv, receipt = _running(make, raw, prefix)
    store.request_cancel("wf-1")
    # When it records a child with its message and suspends on it in one write
    kids, pushes = _children(inv, 0), [_push(prefix, "m0")]
    batch = Batch(0, [b"s0"], children=kids, pushes=pushes, suspend=[0], receipt=receipt)
    result = store.commit("wf-1", inv, batch)
    # Then the suspension is written but neither the message (the caller passes the cancel
    # on and sends it) nor the acknowledgement: the message stays for its ack as usual
    assert result.ok
    assert not result.pushed
    assert not result.acked
    assert _unacked(raw, receipt) == (True, True)


def test_a_finish_that_tells_its_parent_acknowledges_the_delivery(
    make: Callable[..., RedisStore], raw: redis.Redis, prefix: str
) -> None:
    # Given a root suspended on one child, and the child delivered by d1
    store = make()
    inv = _root(store)
    assert store.commit("wf-1", inv, Batch(0, [b"s0"], children=_children(inv, 0), suspend=[0])).ok
    store.load("wf-1", "c0")
    receipt = _delivered(raw, prefix, "d1")
    # When the child finishes, telling (and waking) the root
    done = Finish(WorkflowStatus.COMPLETED, b"r0")
    batch = Batch(
        0,
        finish=done,
        parent=ParentOutcome(inv, 0),
        parent_push=_push(prefix, "w0"),
        receipt=receipt,
    )
    result = store.commit("wf-1", "c0", batch)
    # Then the outcome, the wake-up message and the acknowledgement are one write
    assert result.ok
    assert result.acked
    assert result.parent is not None
    assert result.parent.wake
    assert _queued(raw, prefix) == [("w0", b"body of w0")]
    assert _unacked(raw, receipt) == (False, False)


def test_a_delivery_already_taken_back_is_acknowledged_without_touching_its_message(
    make: Callable[..., RedisStore], raw: redis.Redis, prefix: str
) -> None:
    # Given a delivery whose id is no longer in the worker's ack set (Dramatiq's
    # maintenance gave it back to the queue), its body still stored for the redelivery
    store, inv, receipt = _running(make, raw, prefix)
    raw.srem(receipt.acks, "d0")
    assert store.commit("wf-1", inv, Batch(0, [b"s0"], children=_children(inv, 0))).ok
    # When the run's suspension acknowledges it
    result = store.commit("wf-1", inv, Batch(1, suspend=[0], receipt=receipt))
    # Then the redelivery keeps its body (as Dramatiq's own ack would leave it)
    assert result.acked
    assert _unacked(raw, receipt) == (False, True)
