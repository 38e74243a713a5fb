"""Where a ``RedisStore`` keeps its keys: one layout for a standalone server, a sharded one
for Redis Cluster (where every multi-key script must stay inside one hash slot).

Standalone (unchanged since the first release)::

    <prefix>:{<workflow_id>}:wf, ...:invs, ...:inv:<id>, ...   one workflow's keys
    <prefix>:idx:all, :idx:type:<type>, :idx:types, :idx:expiry, :idx:active,
    <prefix>:idx:status:<status>[:type:<type>]                   the cross-workflow indexes

Cluster: ``SHARDS`` shards, a workflow's shard being ``crc32(workflow_id) % SHARDS``; each
shard is one hash tag ``{<k>}``, holding its workflows' keys *and its own copy of every
index*, so a script that changes a workflow's status updates the status indexes in the same
slot, atomically, as on a standalone server::

    <prefix>:{<k>}:w:<workflow_id>:wf, ...                      one workflow's keys
    <prefix>:{<k>}:idx:all, ... :idx:status:<status>...          shard k's indexes

Listing, counting and the sweeps read every shard and merge. The two layouts never meet:
a standalone server is always opened with the first (``redis://``), a cluster with the
second (``redis+cluster://``; a cluster node refuses ``redis://`` with a typed error).
"""

from __future__ import annotations

import zlib
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

from wfcore.store._redis_cluster import ClusterLinks, primaries
from wfcore.store._redis_target import Target

__all__ = ["SHARDS", "KeyLayout", "open_cluster"]

SHARDS = 32
"""Shards of a cluster store. Part of its layout: changing it would hide stored workflows."""

# The status-index prefix of the workflow whose ``wf`` key a script holds (see ``reindex``).
_STANDALONE_INDEX = "local idx = string.match(wf, '^(.-):{') .. ':idx:status:'"
_SHARDED_INDEX = "local idx = string.match(wf, '^(.-:{[^}]*})') .. ':idx:status:'"


class KeyLayout:
    """Key names of one store (``prefix``), standalone or ``sharded``."""

    __slots__ = ("prefix", "sharded")

    def __init__(self, prefix: str, *, sharded: bool) -> None:
        self.prefix = prefix
        self.sharded = sharded

    def shard(self, workflow_id: str) -> int:
        return zlib.crc32(workflow_id.encode()) % SHARDS

    def base(self, workflow_id: str) -> str:
        """The prefix of every key of ``workflow_id`` (all in one slot)."""
        if self.sharded:
            return f"{self.prefix}:{{{self.shard(workflow_id)}}}:w:{workflow_id}:"
        return f"{self.prefix}:{{{workflow_id}}}:"

    def index(self, workflow_id: str) -> str:
        """The prefix of the indexes that list ``workflow_id``."""
        if self.sharded:
            return f"{self.prefix}:{{{self.shard(workflow_id)}}}:idx:"
        return f"{self.prefix}:idx:"

    def indexes(self) -> list[str]:
        """The prefix of every shard's indexes (one on a standalone server)."""
        if self.sharded:
            return [f"{self.prefix}:{{{k}}}:idx:" for k in range(SHARDS)]
        return [f"{self.prefix}:idx:"]

    def script(self, source: str) -> str:
        """A Lua script's source for this layout (where ``reindex`` finds the indexes)."""
        if not self.sharded:
            return source
        return source.replace(_STANDALONE_INDEX, _SHARDED_INDEX)


def open_cluster(target: Target) -> tuple[redis.Redis, ClusterLinks]:
    """A cluster client on ``target``'s seed nodes (it reads the slot map now): one
    primary's client, and the store's links over the cluster."""
    options: dict[str, Any] = redis.connection.parse_url(target.url)  # type: ignore[no-untyped-call]
    for name in ("host", "port", "db", "path"):
        options.pop(name, None)
    if options.pop("connection_class", None) is redis.SSLConnection:
        options["ssl"] = True
    nodes = [ClusterNode(host, port) for host, port in target.nodes]  # type: ignore[no-untyped-call]
    client = RedisCluster(
        startup_nodes=nodes,
        socket_timeout=target.timeout,
        socket_connect_timeout=target.timeout,
        retry=Retry(NoBackoff(), 0),
        **options,
    )
    node = primaries(client)[0].redis_connection
    assert node is not None  # the cluster client made one per node it found
    return node, ClusterLinks(client, target.replicas, target.timeout)
