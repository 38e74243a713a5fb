"""``RedisStore`` on a real Redis Cluster, under a real ``dramatiq`` worker process.

The store is a six-node cluster (3 primaries, 3 replicas) the fixtures start on free ports;
the broker a separate standalone redis-server (a RedisBroker cannot run on a cluster), so
the commit-time outbox is off and messages are sent after each write.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.apps.cluster import ClusterTasks, build
from tests.integration.harness import WorkerProcess, delete_redis_keys, redis_url_of, start
from tests.support.redis_cluster import RedisCluster, start_cluster, stop_cluster
from tests.support.redis_server import RedisServer
from wfcore import WorkflowStatus
from wfcore_dramatiq import App, WorkflowHandle
from wfcore_dramatiq._outbox import outbox_for

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]

_TARGET = "tests.integration.apps.cluster:broker"


def _expected(n: int) -> int:
    return sum(i * i + 1 for i in range(n))


@contextmanager
def _served(
    redis_server: RedisServer, cluster: RedisCluster, log_dir: Path
) -> Iterator[tuple[App, ClusterTasks, WorkerProcess]]:
    """The cluster tasks' App (client side) and a real worker serving them, under a unique
    broker namespace (deleted afterwards) and store prefix."""
    run = uuid.uuid4().hex[:12]
    env = {
        "WFCORE_IT_BROKER_URL": redis_url_of(redis_server),
        "WFCORE_IT_NAMESPACE": f"wfcore-cluster-{run}",
        "WFCORE_IT_STORE_URL": cluster.url(prefix=f"wfcore-cluster-store-{run}"),
    }
    app, tasks = build(env)
    worker = WorkerProcess(env, log_dir / "worker.log", target=_TARGET)
    worker.start()
    try:
        yield app, tasks, worker
    finally:
        worker.stop()
        app.close()
        app.broker.close()
        delete_redis_keys(env["WFCORE_IT_BROKER_URL"], env["WFCORE_IT_NAMESPACE"])


def _explain(app: App, workflow_id: str, worker: WorkerProcess) -> str:
    """What a stuck workflow looks like in the store, and the worker's last words."""
    lines = [f"workflow {workflow_id} did not finish"]
    for inv in app.store.list_invocations(workflow_id):
        snap = app.store.load(workflow_id, inv.invocation_id, claim=False)
        outcomes = sorted(snap.outcomes) if snap else None
        lines.append(f"  {inv.invocation_id} {inv.status} waiting={inv.waiting} got={outcomes}")
    for child in app.store.child_workflows(workflow_id):
        lines.append(f"  child {child.workflow_id} {child.status}")
    return "\n".join(lines) + "\n" + worker.log()[-4000:]


@pytest.fixture
def fresh_cluster() -> Iterator[RedisCluster]:
    """A cluster of this test alone (it kills one of its nodes)."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        stop_cluster(cluster)


def test_a_worker_runs_parents_and_child_workflows_on_a_cluster_store(
    redis_server: RedisServer, redis_cluster: RedisCluster, tmp_path: Path
) -> None:
    # Given a real worker whose store is the cluster and whose broker is a standalone Redis
    with _served(redis_server, redis_cluster, tmp_path) as (app, tasks, _):
        # Then the store writes no queue messages: they are sent after each write
        assert getattr(app.store, "writes_pushes", None) is False
        assert outbox_for(app.broker, app.store) is None
        # When parents fan out to child workflows (each in its own shard)
        handles = [start(tasks.parent, 6) for _ in range(4)]

        # Then each finishes with every child's result, each child workflow stored once
        for handle in handles:
            assert handle.result(timeout=60) == _expected(6)
            children = app.store.child_workflows(handle.workflow_id)
            assert len(children) == 6
            assert {c.status for c in children} == {WorkflowStatus.COMPLETED}
        # And listing merges every shard: the parents, newest first, and the children
        ids = [h.workflow_id for h in handles]
        first = app.store.get_workflow(ids[0])
        assert first is not None
        listed = app.store.list_workflows(workflow_type=first.workflow_type, limit=10)
        assert [w.workflow_id for w in listed] == ids[::-1]
        assert app.store.count_workflows(WorkflowStatus.COMPLETED) == 4 * 7


def _through_failover(
    cluster: RedisCluster,
    app: App,
    worker: WorkerProcess,
    handles: list[WorkflowHandle[int]],
    under_way: Callable[[WorkflowHandle[int]], bool],
    expected: int,
) -> None:
    """Once a run is ``under_way``, SIGKILL a primary, wait for its replica to take over,
    then check that every workflow finishes with ``expected``."""
    deadline = time.monotonic() + 30
    while not any(under_way(h) for h in handles):
        assert time.monotonic() < deadline, worker.log()[-3000:]
        time.sleep(0.01)
    _, pid = cluster.primaries()[0]
    cluster.kill(pid)
    cluster.wait_ok(timeout=30)
    for handle in handles:
        try:
            assert handle.result(timeout=40) == expected
        except TimeoutError:
            raise AssertionError(_explain(app, handle.workflow_id, worker)) from None


def test_workflows_finish_once_through_a_primary_killed_mid_run(
    redis_server: RedisServer, fresh_cluster: RedisCluster, tmp_path: Path
) -> None:
    # Given a real worker running workflows that fan out to child tasks, on a cluster store
    with _served(redis_server, fresh_cluster, tmp_path) as (app, tasks, worker):
        n = 6
        handles = [start(tasks.fan, n) for _ in range(16)]

        # When a primary is SIGKILLed once child tasks are recorded (its replica takes over)
        # Then every workflow finishes with the right result
        def under_way(h: WorkflowHandle[int]) -> bool:
            return len(app.store.list_invocations(h.workflow_id)) > 1

        expected = sum(i * i for i in range(n)) + n * n
        _through_failover(fresh_cluster, app, worker, handles, under_way, expected)

        # And nothing is lost or duplicated: each has its n + 1 child tasks, each done once
        for handle in handles:
            invocations = app.store.list_invocations(handle.workflow_id)
            assert len(invocations) == n + 2  # the root and its children
            assert len({i.invocation_id for i in invocations}) == n + 2
            assert {i.status for i in invocations} == {WorkflowStatus.COMPLETED}


def test_child_workflows_finish_once_through_a_primary_killed_mid_run(
    redis_server: RedisServer, fresh_cluster: RedisCluster, tmp_path: Path
) -> None:
    # Given a real worker running parents that fan out to child workflows, on a cluster store
    with _served(redis_server, fresh_cluster, tmp_path) as (app, tasks, worker):
        handles = [start(tasks.parent, 5) for _ in range(16)]

        # When a primary is SIGKILLed once child workflows exist
        # Then every parent finishes with its 5 children's results, each child stored once
        def under_way(h: WorkflowHandle[int]) -> bool:
            return bool(app.store.child_workflows(h.workflow_id))

        _through_failover(fresh_cluster, app, worker, handles, under_way, _expected(5))
        for handle in handles:
            assert len(app.store.child_workflows(handle.workflow_id)) == 5
