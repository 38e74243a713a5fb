"""Messages written by the store's commit (``RedisOutbox``) with a RedisBroker on the store's
Redis server: which pairs get it, and that Dramatiq workers run what the commits wrote."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware

from tests.integration.harness import RESULT_TIMEOUT, start
from wfcore.store import MemoryStore, RedisStore
from wfcore_dramatiq import App
from wfcore_dramatiq._outbox import RedisOutbox, outbox_for

pytestmark = pytest.mark.redis


class EnqueueLog(Middleware):
    """Counts ``before_enqueue``, ``after_enqueue`` and processed messages per invocation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.before: Counter[str] = Counter()
        self.after: Counter[str] = Counter()
        self.processed: Counter[str] = Counter()

    def before_enqueue(self, broker: dramatiq.Broker, message: Any, delay: int | None) -> None:
        self._count(self.before, message)

    def after_enqueue(self, broker: dramatiq.Broker, message: Any, delay: int | None) -> None:
        self._count(self.after, message)

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self._count(self.processed, message)

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


@pytest.mark.parametrize("in_commit", [True, False])
def test_workers_run_what_the_commits_wrote(
    redis_url: str, namespace: str, in_commit: bool
) -> None:
    # Given an App on a RedisBroker and a RedisStore sharing one database, with a log of
    # the broker's enqueue hooks and of its enqueue calls
    broker = _broker(redis_url, namespace)
    log = EnqueueLog()
    broker.add_middleware(log)
    app = App(
        broker=broker,
        store=RedisStore(redis_url, prefix=namespace),
        recovery_interval=0,
        enqueue_in_commit=in_commit,
    )
    sent_by_broker: list[str] = []
    enqueue = broker.enqueue

    def counting_enqueue(message: Any, *, delay: int | None = None) -> Any:
        sent_by_broker.append(message.options["wfcore"]["invocation_id"])
        return enqueue(message, delay=delay)

    broker.enqueue = counting_enqueue  # type: ignore[method-assign]

    @app.task
    def step(x: int) -> int:
        return x + 1

    @app.task
    def flow(x: int) -> list[int]:
        first = flow.wf.execute_task(step, x).result
        both = flow.wf.wait(flow.wf.start_task(step, first), flow.wf.start_task(step, 10))
        return [first, *[h.result for h in both]]

    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=50)
    worker.start()
    try:
        # When a workflow with three children runs
        handle = start(flow, 1)
        assert handle.result(timeout=RESULT_TIMEOUT) == [2, 3, 11]
        record = app.store.get_workflow(handle.workflow_id)
        assert record is not None
        root = record.root_invocation_id
        invocations = app.store.list_invocations(handle.workflow_id)
    finally:
        worker.stop()
        app.close()
    children = [inv.invocation_id for inv in invocations if inv.invocation_id != root]
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
    # And with the outbox only the client's root message went through broker.enqueue
    assert Counter(sent_by_broker) == (Counter({root: 1}) if in_commit else log.processed)
    assert isinstance(app.engine._outbox, RedisOutbox) is in_commit
