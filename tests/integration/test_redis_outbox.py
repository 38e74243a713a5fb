"""Messages written by the store's commit (``RedisOutbox``) with a RedisBroker on the store's
Redis server: which pairs get it, and that Dramatiq workers run what the commits wrote."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import dramatiq
import pytest
import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware

from tests.integration.harness import RESULT_TIMEOUT, start
from tests.support.waiting import wait_for
from wfcore import InvocationRef, WorkflowStatus
from wfcore._models import InvocationRecord, QueueReceipt
from wfcore.errors import WorkflowCancelledError
from wfcore.store import MemoryStore, RedisStore
from wfcore_dramatiq import App
from wfcore_dramatiq._messages import raw_workflow_id
from wfcore_dramatiq._outbox import RedisOutbox, outbox_for

pytestmark = pytest.mark.redis


class EnqueueLog(Middleware):
    """Counts ``before_enqueue``, ``after_enqueue`` and processed messages per invocation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.before: Counter[str] = Counter()
        self.after: Counter[str] = Counter()
        self.processed: Counter[str] = Counter()
        self.delivered: dict[str, str] = {}  # redis message id -> invocation it ran

    def before_enqueue(self, broker: dramatiq.Broker, message: Any, delay: int | None) -> None:
        self._count(self.before, message)

    def after_enqueue(self, broker: dramatiq.Broker, message: Any, delay: int | None) -> None:
        self._count(self.after, message)

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self._count(self.processed, message)
        with self._lock:
            self.delivered[message.options["redis_message_id"]] = message.options["wfcore"][
                "invocation_id"
            ]

    def _count(self, counter: Counter[str], message: Any) -> None:
        with self._lock:
            counter[message.options["wfcore"]["invocation_id"]] += 1


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    """A unique Dramatiq namespace and store prefix; their keys are deleted afterwards."""
    name = f"outbox-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{name}*", count=1000):
        client.delete(key)
    client.close()


def _broker(url: str, namespace: str) -> RedisBroker:
    return RedisBroker(url=url, namespace=namespace)  # type: ignore[no-untyped-call]


def test_only_a_redis_broker_on_the_stores_database_gets_an_outbox(
    redis_url: str, namespace: str
) -> None:
    store = RedisStore(redis_url, prefix=namespace)
    where = store._client.connection_pool.connection_kwargs
    elsewhere = f"redis://{where['host']}:{where['port']}/5"
    try:
        assert isinstance(outbox_for(_broker(redis_url, namespace), store), RedisOutbox)
        assert outbox_for(_broker(elsewhere, namespace), store) is None
        assert outbox_for(StubBroker(), store) is None
        assert outbox_for(_broker(redis_url, namespace), MemoryStore()) is None
    finally:
        store.close()


class Deployment:
    """An App on a RedisBroker and a RedisStore sharing one database, an in-process worker,
    a log of the broker's enqueue hooks and of the invocations ``broker.enqueue`` sent (all,
    and those sent with a delay)."""

    def __init__(self, redis_url: str, namespace: str, *, in_commit: bool) -> None:
        self.broker = broker = _broker(redis_url, namespace)
        self.log = EnqueueLog()
        broker.add_middleware(self.log)
        self.app = App(
            broker=broker,
            store=RedisStore(redis_url, prefix=namespace),
            recovery_interval=0,
            enqueue_in_commit=in_commit,
        )
        self.sent_by_broker: list[str] = []
        self.delayed_by_broker: list[str] = []
        enqueue = broker.enqueue

        def counting_enqueue(message: Any, *, delay: int | None = None) -> Any:
            target = message.options["wfcore"]["invocation_id"]
            self.sent_by_broker.append(target)
            if delay is not None:
                self.delayed_by_broker.append(target)
            return enqueue(message, delay=delay)

        broker.enqueue = counting_enqueue  # type: ignore[method-assign]
        # The consumers' ack round trips (RedisBroker resolves do_ack per call)
        self.acked_by_broker: list[str] = []
        ack = broker.do_ack

        def counting_ack(queue_name: str, message_id: str) -> Any:
            self.acked_by_broker.append(message_id)
            return ack(queue_name, message_id)

        broker.do_ack = counting_ack  # type: ignore[attr-defined]
        self.worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=50)

    def invocations(self, workflow_id: str) -> tuple[str, list[InvocationRecord]]:
        """The root invocation's id, and the other invocations of the workflow."""
        record = self.app.store.get_workflow(workflow_id)
        assert record is not None
        root = record.root_invocation_id
        others = self.app.store.list_invocations(workflow_id)
        return root, [inv for inv in others if inv.invocation_id != root]


@pytest.fixture
def deploy(redis_url: str, namespace: str) -> Iterator[Callable[..., Deployment]]:
    """Builds one Deployment; stops its worker and closes its App afterwards."""
    made: list[Deployment] = []

    def build(*, in_commit: bool = True) -> Deployment:
        made.append(Deployment(redis_url, namespace, in_commit=in_commit))
        made[-1].worker.start()
        return made[-1]

    yield build
    for deployment in made:
        deployment.worker.stop()
        deployment.app.close()


def _three_children(app: App) -> Any:
    """A workflow (x) -> [x + 1, x + 2, 11]: a child, then two at once."""

    @app.task
    def step(x: int) -> int:
        return x + 1

    @app.task
    def flow(x: int) -> list[int]:
        first = flow.wf.execute_task(step, x).result
        both = flow.wf.wait(flow.wf.start_task(step, first), flow.wf.start_task(step, 10))
        return [first, *[h.result for h in both]]

    return flow


@pytest.mark.parametrize("in_commit", [True, False])
def test_workers_run_what_the_commits_wrote(
    deploy: Callable[..., Deployment], in_commit: bool
) -> None:
    # Given an App on a RedisBroker and a RedisStore sharing one database
    d = deploy(in_commit=in_commit)
    app, log = d.app, d.log

    flow = _three_children(app)

    # When a workflow with three children runs
    handle = start(flow, 1)
    assert handle.result(timeout=RESULT_TIMEOUT) == [2, 3, 11]
    root, invocations = d.invocations(handle.workflow_id)
    children = [inv.invocation_id for inv in invocations]
    # Then after_enqueue ran once per message sent, and every message sent was processed:
    # each child once, the root once plus once per wake-up (none when a child finished
    # before the root suspended on it)
    assert sorted(log.processed) == sorted([root, *children])
    assert len(children) == 3
    assert log.after == log.processed
    assert [log.processed[child] for child in children] == [1, 1, 1]
    # And before_enqueue ran for each of those, and with the outbox also once per finishing
    # child for the root's wake-up, which the child's commit writes only if it wakes the root
    assert log.before[root] == (1 + 3 if in_commit else log.processed[root])
    assert [log.before[child] for child in children] == [1, 1, 1]
    # And with the outbox no message went through broker.enqueue: the client's start wrote
    # the root's first message with its records
    assert Counter(d.sent_by_broker) == (Counter() if in_commit else log.processed)
    assert isinstance(app.engine._outbox, RedisOutbox) is in_commit


def test_children_recorded_after_a_cancel_request_are_sent_after_the_cancel(
    deploy: Callable[..., Deployment],
) -> None:
    # Given a root that has loaded (before any cancel) and waits to start its children
    d = deploy()
    app = d.app
    go, started = threading.Event(), threading.Event()

    @app.task
    def step(x: int) -> int:
        return x + 1

    @app.task(force_new_workflow=True)
    def sub(x: int) -> int:
        return x * 2

    @app.task
    def flow() -> list[int]:
        started.set()
        assert go.wait(RESULT_TIMEOUT)
        handles = flow.wf.wait(flow.wf.start_task(step, 1), flow.wf.start_task(sub, 2))
        return [h.result for h in handles]

    handle = start(flow)
    assert started.wait(RESULT_TIMEOUT)
    # When the workflow is cancelled, and the root then records a child and a child workflow
    assert handle.cancel()
    go.set()
    # Then the commit that recorded them, seeing the cancel flag, wrote no message: the child
    # workflow was cancelled first, then both were sent by broker.enqueue, and nothing ran
    with pytest.raises(WorkflowCancelledError):
        handle.result(timeout=RESULT_TIMEOUT)

    # (the root may end first: its suspension saw the flag and delivered the cancel at once)
    def settled() -> bool:
        _, children = d.invocations(handle.workflow_id)
        workflows = app.store.child_workflows(handle.workflow_id)
        statuses = [c.status for c in children] + [w.status for w in workflows]
        return len(statuses) == 2 and all(s.finished for s in statuses)

    wait_for(settled, RESULT_TIMEOUT, "the child and the child workflow to finish")
    _, children = d.invocations(handle.workflow_id)
    [child] = children
    [child_workflow] = app.store.child_workflows(handle.workflow_id)
    assert child.status is WorkflowStatus.CANCELLED
    assert child_workflow.status is WorkflowStatus.CANCELLED
    assert child_workflow.cancel_requested
    sent = Counter(d.sent_by_broker)
    assert sent[child.invocation_id] == 1
    assert sent[child_workflow.root_invocation_id] == 1
    assert d.log.after[child.invocation_id] == 1


@pytest.mark.parametrize("in_commit", [True, False])
def test_a_timer_wake_up_is_written_by_the_suspension(
    deploy: Callable[..., Deployment], in_commit: bool
) -> None:
    # Given a workflow that sleeps
    d = deploy(in_commit=in_commit)

    @d.app.task
    def napper() -> str:
        napper.wf.sleep(0.3)
        return "rested"

    # When it runs to the end
    handle = start(napper)
    assert handle.result(timeout=RESULT_TIMEOUT) == "rested"
    root, _ = d.invocations(handle.workflow_id)
    # Then its timer woke it once: two runs; three sends seen by the hooks (the start, the
    # delayed wake-up, and the worker moving it from the delay queue when due)
    assert d.log.processed[root] == 2
    assert d.log.after[root] == 3
    # And with the outbox the suspension wrote the delayed wake-up: broker.enqueue sent no
    # delayed message (it only moved the due one out of the delay queue)
    assert d.delayed_by_broker == ([] if in_commit else [root])


@pytest.mark.parametrize("in_commit", [True, False])
def test_the_writes_that_end_runs_acknowledge_their_deliveries(
    deploy: Callable[..., Deployment], namespace: str, redis_url: str, in_commit: bool
) -> None:
    # Given an App on a RedisBroker and a RedisStore sharing one database, and a workflow
    # whose root suspends on children that finish by telling it
    d = deploy(in_commit=in_commit)

    flow = _three_children(d.app)

    # When it runs to the end
    handle = start(flow, 1)
    assert handle.result(timeout=RESULT_TIMEOUT) == [2, 3, 11]
    client = redis.Redis.from_url(redis_url)

    def left(pattern: str, count: Callable[[bytes], int]) -> int:
        return sum(count(key) for key in client.scan_iter(match=f"{namespace}{pattern}"))

    def settled() -> bool:
        return left(":__acks__.*", client.scard) == 0

    try:
        # Then every delivery is acknowledged and no message body is left behind
        wait_for(settled, RESULT_TIMEOUT, "every delivery to be acknowledged")
        assert left(":*.msgs", client.hlen) == 0
    finally:
        client.close()
    # And with the outbox the writes that ended the runs (suspensions, children's finishes
    # telling the root, the root's finish) acknowledged their messages, so the consumers
    # acked none; without it, every message was acked by its consumer
    processed = sum(d.log.processed.values())
    assert processed >= 5
    assert len(d.acked_by_broker) == (0 if in_commit else processed)


def test_a_child_workflow_finish_leaves_its_ack_to_the_consumer(
    deploy: Callable[..., Deployment],
) -> None:
    # Given a root that waits for a child workflow (told of its end after the child's
    # finishing write, in a write of its own)
    d = deploy()

    @d.app.task(force_new_workflow=True)
    def sub(x: int) -> int:
        return x * 2

    @d.app.task
    def flow() -> int:
        return int(flow.wf.execute_task(sub, 21).result)

    # When it runs to the end
    handle = start(flow)
    assert handle.result(timeout=RESULT_TIMEOUT) == 42
    [child] = d.app.store.child_workflows(handle.workflow_id)
    # Then only the child workflow's message was acked by its consumer: a redelivery after
    # a crash between its finish and telling the parent must still tell it
    wait_for(lambda: len(d.acked_by_broker) >= 1, RESULT_TIMEOUT, "the consumer's ack")
    assert [d.log.delivered[m] for m in d.acked_by_broker] == [child.root_invocation_id]


def test_a_failed_run_is_not_acknowledged_by_its_write_and_goes_to_the_dead_letters(
    deploy: Callable[..., Deployment], namespace: str, redis_url: str
) -> None:
    # Given a child that fails for good, under a root that waits for it
    d = deploy()

    @d.app.task(max_retries=0)
    def broken() -> None:
        raise ValueError("no")

    @d.app.task
    def flow() -> str:
        try:
            flow.wf.execute_task(broken)
        except Exception:
            return "caught"
        return "not reached"

    # When it runs
    handle = start(flow)
    assert handle.result(timeout=RESULT_TIMEOUT) == "caught"
    _, [child] = d.invocations(handle.workflow_id)
    # Then the child's message was not acknowledged by its failing write: Dramatiq rejected
    # it as usual, into the queue's dead letters
    client = redis.Redis.from_url(redis_url)
    try:
        wait_for(
            lambda: len(client.zrange(f"{namespace}:default.XQ", 0, -1)) == 1,
            RESULT_TIMEOUT,
            "the failed message in the dead letters",
        )
        dead = client.zrange(f"{namespace}:default.XQ", 0, -1)
    finally:
        client.close()
    assert child.status is WorkflowStatus.FAILED
    assert len(dead) == 1


def test_a_receipt_names_only_the_delivery_of_the_invocation_it_runs(
    redis_url: str, namespace: str
) -> None:
    # Given a Redis outbox and the message its worker thread is processing
    broker = _broker(redis_url, namespace)
    processing: list[Any] = [None]
    outbox = RedisOutbox(broker, lambda: processing[0])
    ref = InvocationRef("wf-1", "inv-1", "flow")
    assert outbox.receipt(ref) is None  # no message: nothing to acknowledge

    def deliver(workflow_id: str, invocation_id: str) -> MessageProxy:
        options = {
            "redis_message_id": "r1",
            "wfcore": {"workflow_id": workflow_id, "invocation_id": invocation_id},
        }
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name="default", actor_name="flow", args=(), kwargs={}, options=options
        )
        proxy = MessageProxy(message)
        processing[0] = proxy
        return proxy

    proxy = deliver("wf-1", "inv-1")
    # When receipts are asked for the invocation it runs, and for another one
    receipt = outbox.receipt(ref)
    # Then only the first gets one, naming the worker's ack set and the queue's messages
    assert receipt == QueueReceipt(
        f"{namespace}:__acks__.{broker.broker_id}.default", f"{namespace}:default.msgs", "r1"
    )
    assert outbox.receipt(InvocationRef("wf-1", "inv-2", "step")) is None
    # And once a write acknowledged it, the message is marked for its consumer to skip
    outbox.acknowledged(receipt)
    assert getattr(proxy, "_wfcore_acked", False)
    # And a receipt of another delivery marks nothing on the message being processed
    other = deliver("wf-1", "inv-1")
    outbox.acknowledged(QueueReceipt(receipt.acks, receipt.messages, "r0"))
    assert not getattr(other, "_wfcore_acked", False)
    # And the root of a raw message's workflow gets none: its reply is given after its end
    deliver(raw_workflow_id("m1"), raw_workflow_id("m1"))
    raw_ref = InvocationRef(raw_workflow_id("m1"), raw_workflow_id("m1"), "flow")
    assert outbox.receipt(raw_ref) is None
