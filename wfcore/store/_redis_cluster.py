"""A ``RedisStore``'s round trips on Redis Cluster: each command sent to the primary that
owns its key's slot, over that node's per-thread link (see ``_redis_link``).

redis-py's ``RedisCluster`` keeps the slot map (from ``CLUSTER SHARDS``/``SLOTS``); the store
only borrows it. A batch of commands is cut into runs of consecutive commands owned by one
node, sent in order, one round trip per run (the store's layout puts one workflow's keys and
its shard's indexes in one slot, so a batch is almost always one run). A ``MULTI``...``EXEC``
block goes whole to the node of its first key: the store's transactions touch one slot.

Redirections: a ``MOVED`` or ``ASK`` reply means the command ran nowhere (the slot lives on
another node), so the slot map is refreshed and the refused commands alone are sent again,
to their new owner: nothing runs twice. A connection lost mid-batch is never retried (a
write may have run): the error propagates as ``StoreUnavailableError`` and the slot map is
refreshed before the next call, so a failed-over primary's replacement is found.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import AskError, ExecAbortError, MovedError

from wfcore.store._redis_link import ThreadLinks

__all__ = ["ClusterLinks", "command_key", "primaries"]

_log = logging.getLogger("wfcore.store")
_WAIT_S = 1.0  # longest a write waits for its replicas (WAIT) before going on with a warning
_REDIRECTS = 5  # MOVED/ASK hops followed per call before giving up (a slot in migration)
# Commands that change nothing: a batch of only these is safe to send again.
_READS = frozenset(
    [
        "HGETALL",
        "HGET",
        "HMGET",
        "HLEN",
        "LRANGE",
        "LLEN",
        "ZRANGE",
        "ZRANGEBYSCORE",
        "ZREVRANGEBYSCORE",
        "ZCARD",
        "ZSCAN",
        "ZSCORE",
        "SMEMBERS",
        "EXISTS",
        "PING",
    ]
)


def command_key(command: Sequence[Any]) -> Any:
    """The key that routes ``command``, or None for a keyless one (PING, SCRIPT LOAD)."""
    name = command[0]
    if name in ("EVALSHA", "EVAL"):
        return command[3] if int(command[2]) > 0 else None
    if name in ("MULTI", "EXEC", "PING", "SCRIPT"):
        return None
    return command[1]


class ClusterLinks:
    """Per-node, per-thread links of a cluster, with the same ``roundtrip`` as ThreadLinks."""

    def __init__(self, client: RedisCluster, replicas: int = 1, timeout: float = 5.0) -> None:
        self._client = client
        # Each run with a write ends with WAIT: the write reached `replicas` replicas before
        # the store returns, so a primary's failover (its replica promoted) loses none of it.
        # Never more than the slot has (a promoted replica has none until one is added), and
        # at most _WAIT_MS: a replica that lags that long is reported, not waited for.
        self._replicas = replicas
        self._wait_ms = max(1, int(min(timeout, _WAIT_S) * 1000))
        self._links: dict[str, ThreadLinks] = {}
        self._lock = threading.Lock()
        self._stale = False

    def roundtrip(self, commands: Sequence[tuple[Any, ...]], *, ordered: bool = True) -> list[Any]:
        """Send ``commands`` (in order, grouped by node; unless not ``ordered``: then all of
        one node's in one round trip); their replies, an error reply as its exception
        (redirections followed)."""
        if commands and commands[0][0] == "SCRIPT":
            return self._everywhere(commands)
        if self._stale:
            self._refresh()
        replies: list[Any] = [None] * len(commands)
        pending = list(range(len(commands)))
        for _ in range(_REDIRECTS):
            redirected: list[int] = []
            for node, indexes in self._runs(commands, pending, ordered):
                for i, reply in zip(indexes, self._send(node, commands, indexes), strict=True):
                    replies[i] = reply
                    if isinstance(reply, MovedError | AskError) or _aborted(commands, i, reply):
                        redirected.append(i)
            if not redirected:
                return replies
            self._refresh()
            pending = _whole_transactions(commands, redirected)
        return replies

    def close(self) -> None:
        """Disconnect every link (a later roundtrip reconnects)."""
        with self._lock:
            links = list(self._links.values())
        for link in links:
            link.close()
        self._client.close()

    def ping(self) -> None:
        """Every primary answers, or raise redis-py's error."""
        self._everywhere([("PING",)])

    def _send(self, node: ClusterNode, commands: Sequence[Any], indexes: list[int]) -> list[Any]:
        """One run on ``node``. A link that cannot connect sent nothing, and a batch of reads
        changes nothing: either is sent once more, to the slot's owner on a fresh slot map
        (a primary failed over since the last call). Anything else lost is never re-sent."""
        batch = [commands[i] for i in indexes]
        reads = all(c[0] in _READS for c in batch)
        wait = 0 if reads else self._wait_for(commands, indexes[0])
        if wait:
            batch.append(("WAIT", wait, self._wait_ms))
        for attempt in (1, 2):
            links = self._links_of(node)
            try:
                links.connect()
            except (redis.ConnectionError, redis.TimeoutError):
                self._stale = True
                if attempt == 2:
                    raise
            else:
                try:
                    replies = links.roundtrip(batch)
                except (redis.ConnectionError, redis.TimeoutError):
                    self._stale = True  # a failover may be under way: re-read the slot map
                    if attempt == 2 or not reads:
                        raise
                else:
                    if wait:
                        self._waited(node, replies.pop(), wait)
                    return replies
            self._refresh()
            node = self._node_of(commands, indexes[0])
            if wait:
                batch.pop()
                wait = self._wait_for(commands, indexes[0])
                if wait:
                    batch.append(("WAIT", wait, self._wait_ms))
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_for(self, commands: Sequence[tuple[Any, ...]], i: int) -> int:
        """How many replicas a write run starting at ``i`` waits for: as asked, at most as
        many as its slot has in the slot map."""
        if not self._replicas:
            return 0
        key = command_key(commands[i])
        j = i
        while key is None and j + 1 < len(commands) and commands[i][0] == "MULTI":
            j += 1
            key = command_key(commands[j])
        if key is None:
            return 0
        slot = self._client.keyslot(key)  # type: ignore[no-untyped-call]
        owners = self._client.nodes_manager.slots_cache.get(slot) or []
        return min(self._replicas, max(0, len(owners) - 1))

    def _waited(self, node: ClusterNode, acked: Any, asked: int) -> None:
        """A write's WAIT reply: fewer replicas than asked is logged, not raised (the write
        did happen on the primary; raising would have it retried, and a retried
        record_outcome would report it was not the one that recorded)."""
        if isinstance(acked, Exception) or int(acked) < asked:
            _log.warning(
                "Redis Cluster node %s: a write reached %s replica(s) of %s asked for in %s ms; "
                "a failover now could lose it",
                node.name,
                acked,
                asked,
                self._wait_ms,
            )

    def _everywhere(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """``commands`` on every primary (script loads, pings); the first one's replies."""
        if self._stale:
            self._refresh()
        replies: list[Any] = []
        for node in primaries(self._client):
            got = self._send(node, commands, list(range(len(commands))))
            replies = replies or got
        return replies

    def _runs(
        self, commands: Sequence[tuple[Any, ...]], pending: list[int], ordered: bool
    ) -> list[tuple[ClusterNode, list[int]]]:
        """``pending`` cut into runs of consecutive commands owned by one node (unordered,
        with no transactions: one run per node)."""
        if not ordered:
            by_node: dict[str, tuple[ClusterNode, list[int]]] = {}
            for i in pending:
                node = self._node_of(commands, i)
                by_node.setdefault(node.name, (node, []))[1].append(i)
            return list(by_node.values())
        runs: list[tuple[ClusterNode, list[int]]] = []
        block: int | None = None  # index of the MULTI of the block being cut, if any
        for i in pending:
            name = commands[i][0]
            if name == "MULTI":
                block = i
            if block is not None and block != i and runs:
                runs[-1][1].append(i)  # inside a transaction: its MULTI's node
            else:
                node = self._node_of(commands, i)
                if runs and runs[-1][0].name == node.name:
                    runs[-1][1].append(i)
                else:
                    runs.append((node, [i]))
            if name == "EXEC":
                block = None
        return runs

    def _node_of(self, commands: Sequence[tuple[Any, ...]], i: int) -> ClusterNode:
        key = command_key(commands[i])
        j = i
        while key is None and j + 1 < len(commands) and commands[i][0] == "MULTI":
            j += 1  # a transaction goes where its first keyed command's slot lives
            key = command_key(commands[j])
        if key is None:
            return primaries(self._client)[0]
        return self._client.nodes_manager.get_node_from_slot(self._client.keyslot(key))  # type: ignore[no-untyped-call]

    def _links_of(self, node: ClusterNode) -> ThreadLinks:
        links = self._links.get(node.name)
        if links is None:
            with self._lock:
                links = self._links.get(node.name)
                if links is None:
                    connection = node.redis_connection
                    assert connection is not None  # set by the cluster client for each node
                    links = ThreadLinks(connection.connection_pool)
                    self._links[node.name] = links
        return links

    def _refresh(self) -> None:
        self._stale = False
        self._client.nodes_manager.initialize()


def primaries(client: RedisCluster) -> list[ClusterNode]:
    """The cluster's primaries, as its client last read them."""
    nodes: list[ClusterNode] = client.get_primaries()  # type: ignore[no-untyped-call]
    return nodes


def _aborted(commands: Sequence[tuple[Any, ...]], i: int, reply: Any) -> bool:
    """An EXEC refused because a queued command was redirected: the block ran nothing."""
    return commands[i][0] == "EXEC" and isinstance(reply, ExecAbortError)


def _whole_transactions(commands: Sequence[tuple[Any, ...]], indexes: list[int]) -> list[int]:
    """``indexes`` with every transaction they touch taken whole (MULTI to EXEC)."""
    chosen: set[int] = set()
    start: int | None = None
    for i, command in enumerate(commands):
        if command[0] == "MULTI":
            start = i
        if start is None:
            if i in indexes:
                chosen.add(i)
        elif command[0] == "EXEC":
            if any(start <= j <= i for j in indexes):
                chosen.update(range(start, i + 1))
            start = None
    return sorted(chosen)
