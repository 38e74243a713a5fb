"""``RedisStore`` on Redis Cluster: its URL, its sharded layout, and the typed errors of a
store opened the wrong way (the conformance suites run on the cluster through ``backend``)."""

from __future__ import annotations

import uuid

import pytest
import redis
from redis.crc import key_slot

from tests.store.records import workflow
from tests.support.redis_cluster import RedisCluster
from tests.support.redis_server import RedisServer
from wfcore.errors import ConfigurationError, StoreError, StoreUnavailableError
from wfcore.store import open_store
from wfcore.store._redis_keys import SHARDS, KeyLayout
from wfcore.store._redis_target import parse_url
from wfcore.store.redis import RedisStore


def test_a_cluster_url_names_its_nodes_and_takes_the_store_options() -> None:
    # When a cluster URL with three nodes, credentials and options is parsed
    target = parse_url(
        "redis+cluster://u:secret@h1:7000,h2:7001,[::1]:7002/?prefix=app&replicas=0", None, None
    )
    # Then every node is a seed, the options are the store's, the password stays hidden
    assert target.nodes == (("h1", 7000), ("h2", 7001), ("::1", 7002))
    assert (target.prefix, target.replicas) == ("app", 0)
    assert "secret" not in target.where
    assert target.url.startswith("redis://u:secret@h1:7000/")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis+cluster://h1:7000,h2/", "'h2' is not host:port"),
        ("redis+cluster://h1:7000/3", "only database 0"),
        ("redis+cluster://h1:7000/?replicas=two", "replicas must be a whole number"),
        ("redis://h1:6379/0?replicas=1", "replicas= is for Redis Cluster URLs only"),
    ],
)
def test_a_bad_cluster_url_is_a_configuration_error_naming_the_fix(url: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem) as caught:
        open_store(url)
    assert "redis+cluster://" in str(caught.value)


def test_the_sharded_layout_keeps_a_workflow_and_its_indexes_in_one_slot() -> None:
    # Given the cluster layout
    keys = KeyLayout("p", sharded=True)
    for wid in ("a", "order-17", "wf0123", "{odd}"):
        # Then a workflow's keys and the indexes that list it share one hash slot
        slot = key_slot(keys.base(wid).encode() + b"wf")
        assert key_slot(keys.index(wid).encode() + b"status:COMPLETED") == slot
    # And listing reads one index prefix per shard; a standalone server keeps one, unchanged
    assert len(keys.indexes()) == SHARDS
    standalone = KeyLayout("p", sharded=False)
    assert standalone.base("a") == "p:{a}:"
    assert standalone.indexes() == ["p:idx:"]


@pytest.mark.redis
def test_a_cluster_store_refuses_queue_messages_so_they_are_sent_after_writes(
    redis_cluster: RedisCluster,
) -> None:
    store = open_store(redis_cluster.url(prefix=f"t-{uuid.uuid4().hex[:12]}"))
    try:
        assert isinstance(store, RedisStore)
        assert store.writes_pushes is False
        assert store.shares_server(redis.Redis(port=redis_cluster.ports[0])) is False
        store.ping()  # every primary answers
    finally:
        store.close()


@pytest.mark.redis
def test_a_cluster_node_opened_with_redis_url_says_to_use_redis_cluster(
    redis_cluster: RedisCluster,
) -> None:
    # Given a store opened on one cluster node as if it were a standalone server
    store = RedisStore(f"redis://127.0.0.1:{redis_cluster.ports[0]}/0", prefix="t-moved")
    try:
        # When it writes workflows whose slots live on other nodes
        # Then the error names the problem and the URL to use instead
        with pytest.raises(StoreError, match=r"is a Redis Cluster node.*redis\+cluster://"):
            _create_many(store, 20)
    finally:
        store.close()


@pytest.mark.redis
def test_a_standalone_server_opened_as_a_cluster_is_a_typed_error(
    redis_server: RedisServer,
) -> None:
    with pytest.raises(StoreUnavailableError, match=r"Redis Cluster at .* cannot be used"):
        open_store(f"redis+cluster://127.0.0.1:{redis_server.port}")


def _create_many(store: RedisStore, count: int) -> None:
    for i in range(count):
        record, root = workflow(f"wf-{i}")
        store.create_workflow(record, root)
