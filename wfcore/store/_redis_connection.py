"""A ``RedisStore``'s connection: client and scripts set up, key names, and round trips
(pipelines, MULTI/EXEC transactions, scripts reloaded after a lost script cache), with
redis-py's errors turned into wfcore's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.exceptions import NoScriptError, RedisClusterException
from redis.retry import Retry

from wfcore._models import WorkflowRecord
from wfcore.errors import ConfigurationError, StoreUnavailableError
from wfcore.store import _redis_repair_scripts as repair_scripts
from wfcore.store import _redis_scripts as layout
from wfcore.store import mask_url
from wfcore.store._redis_cluster import ClusterLinks
from wfcore.store._redis_keys import KeyLayout, open_cluster
from wfcore.store._redis_link import ThreadLinks
from wfcore.store._redis_signal_scripts import SEND_SIGNAL
from wfcore.store._redis_target import (
    _UNAVAILABLE,
    EXAMPLE,
    parse_url,
    positive_or_zero,
    store_error,
)

__all__ = [
    "CHUNK",
    "Command",
    "RedisConnection",
    "active_member",
    "hash_fields",
    "scored_pairs",
]

CHUNK = 200
_ROOTS_KEPT = 10_000

Command = tuple[Any, ...]


class RedisConnection:
    """The connection part of :class:`~wfcore.store.redis.RedisStore` (see its arguments)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str | None = None,
        retention: float | None = None,
        timeout: float | None = None,
    ) -> None:
        target = parse_url(url, prefix, timeout)
        if retention is not None and not positive_or_zero(retention):
            raise ConfigurationError(
                f"retention must be a number of seconds >= 0 or None, got {retention!r}"
            )
        self._target = target
        self._prefix = target.prefix
        self._retention = retention
        self._closed = False
        self._guard = _Calls(self)
        self._layout = KeyLayout(target.prefix, sharded=bool(target.nodes))
        # The connections: per-thread links to one server (_links), or per node of a
        # cluster (_cluster); _route is whichever serves.
        self._cluster: ClusterLinks | None = None
        self._route: ThreadLinks | ClusterLinks
        try:
            if target.nodes:
                # _client: a node's client, for script digests only (every call is routed).
                self._client, self._cluster = open_cluster(target)
                self._route = self._cluster
            else:
                self._client = redis.Redis.from_url(
                    target.url,
                    socket_timeout=target.timeout,
                    socket_connect_timeout=target.timeout,
                    # No retries: a retried record_outcome whose first reply was lost would
                    # report recorded=False and nobody would wake the parent.
                    retry=Retry(NoBackoff(), 0),
                )
                pool = self._client.connection_pool
                # Build one connection object (no socket yet) so a bad option fails here.
                pool.connection_class(**pool.connection_kwargs)
                self._links = ThreadLinks(self._client.connection_pool)
                self._route = self._links
        except RedisClusterException as e:  # not a cluster, or no seed node answered
            raise StoreUnavailableError(
                f"Redis Cluster at {target.where} cannot be used: {e}; check the nodes in the "
                f"URL, or open a standalone server with redis:// (e.g. {EXAMPLE})"
            ) from None
        except (TypeError, ValueError, redis.RedisError) as e:
            if isinstance(e, redis.RedisError) and isinstance(e, _UNAVAILABLE):
                raise store_error(target, e) from None
            raise ConfigurationError(
                f"bad Redis store URL {mask_url(url)!r}: {e}; use e.g. {EXAMPLE}"
            ) from None
        # The cross-workflow indexes (see KeyLayout): by creation time, by type, workflow
        # types, retention expiry, and the unfinished invocations, member "<workflow_id>
        # <invocation_id>" (see active_member), score a lower bound of the invocation's
        # updated_at (exact unless an operation could not know its outcome in advance). A
        # hint: recover_candidates checks every member inside its workflow's slot, re-scores
        # or drops the wrong ones, and claims the rest.
        # Root invocation ids seen by load/create: lets commit skip the expiry-index write
        # when a non-root invocation finishes. Only an optimisation; unknown means "write".
        self._roots: dict[str, str] = {}
        sources = [layout.CREATE, layout.ADD_CHILD, layout.CLAIM, layout.COMMIT]
        sources += [layout.RECORD_OUTCOME, layout.CANCEL, layout.INVOCATIONS, layout.PURGE_ONE]
        sources += [layout.DROP_IF_SCORE, layout.RECLAIM, layout.HEARTBEAT, SEND_SIGNAL]
        sources += [layout.INDEX_STATUS]
        self._scripts = tuple(self._register(source) for source in sources)
        (self._create, self._add_child, self._claim, self._commit, self._record) = self._scripts[:5]
        (self._cancel, self._invocations, self._purge_one, self._drop) = self._scripts[5:9]
        self._reclaim, self._heartbeat, self._send_signal = self._scripts[9:12]
        self._index_status = self._scripts[12]
        # Repairs (resume, fork): registered last, so they sit at the end of _scripts.
        repairs = (repair_scripts.REOPEN, repair_scripts.CREATE_FORK)
        self._scripts += tuple(self._register(source) for source in repairs)
        self._reopen, self._create_fork = self._scripts[-2:]

    def __repr__(self) -> str:
        return f"RedisStore({self._target.where!r}, prefix={self._prefix!r})"

    @property
    def writes_pushes(self) -> bool:
        """Commits and creations write queue messages (``Batch.pushes``, ``push=``) on this
        store's server, in the same script as the records: on a standalone server only (on
        a cluster the broker's keys are in other slots; messages are sent after writes)."""
        return not self._layout.sharded

    def shares_server(self, client: redis.Redis) -> bool:
        """True when ``client`` reaches this store's server and database (same address or
        Unix socket, same db) as the same user, so this store's commits may write the keys
        it uses (a different ACL user might not be allowed to). Never on a cluster."""
        if self._cluster is not None:
            return False
        return _server_of(client) == _server_of(self._client)

    def _register(self, source: str) -> Script:
        return Script(self._client, self._layout.script(source))

    # -- lifecycle -----------------------------------------------------------------------

    def ping(self) -> None:
        """Raise ``StoreUnavailableError`` if the store cannot be reached (on a cluster:
        every primary)."""
        with self._calls():
            if self._cluster is not None:
                self._cluster.ping()
            else:
                self._call("PING")

    def close(self) -> None:
        """Release connections; every later call raises ``StoreUnavailableError``."""
        self._closed = True
        self._route.close()
        self._client.close()

    # -- helpers -------------------------------------------------------------------------

    def _call(self, *command: Any) -> Any:
        """One command, its raw reply."""
        return self._pipeline([command])[0]

    def _scored(self, key: str, max_score: float, count: int) -> list[tuple[bytes, float]]:
        """Up to ``count`` members of a sorted set scored at most ``max_score``, lowest
        first, with their scores."""
        top = repr(float(max_score))
        reply = self._call("ZRANGEBYSCORE", key, "-inf", top, "WITHSCORES", "LIMIT", 0, count)
        return scored_pairs(reply)

    def _remember_root(self, workflow: WorkflowRecord) -> None:
        if len(self._roots) >= _ROOTS_KEPT:
            self._roots.clear()  # crude but thread-safe bound; misses only cost a ZADD
        self._roots[workflow.workflow_id] = workflow.root_invocation_id

    def _base(self, workflow_id: str) -> str:
        return self._layout.base(workflow_id)

    def _ix(self, workflow_id: str, name: str) -> str:
        """The index ``name`` (all, types, expiry, active, type:<type>...) of the shard
        holding ``workflow_id``."""
        return self._layout.index(workflow_id) + name

    def _gather(self, commands: Sequence[Command]) -> list[Any]:
        """``_pipeline`` for commands that may run in any order (reads, independent writes):
        on a cluster, one round trip per node rather than per run of one node's commands."""
        return self._pipeline(commands, ordered=False)

    def _pipeline(self, commands: Sequence[Command], *, ordered: bool = True) -> list[Any]:
        if not commands:
            return []
        results = self._send(commands, ordered)
        missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if missing:
            # The server lost its script cache (restart, SCRIPT FLUSH): reload and re-send
            # only the refused calls, which did nothing, so no other command runs twice.
            self._reload_scripts()
            again = self._send([commands[i] for i in missing], ordered)
            for i, result in zip(missing, again, strict=True):
                results[i] = result
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    def _transaction(self, commands: Sequence[Command]) -> list[Any]:
        """``commands`` in MULTI/EXEC, sent as one write: their replies."""
        results = self._exec(commands)
        if any(isinstance(r, NoScriptError) for r in results):
            # A script refused for a lost script cache did nothing: reload, run it all again.
            self._reload_scripts()
            results = self._exec(commands)
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    def _exec(self, commands: Sequence[Command]) -> list[Any]:
        replies = self._send([("MULTI",), *commands, ("EXEC",)])
        for reply in replies:
            if isinstance(reply, Exception):  # refused while queueing: EXEC ran nothing
                raise reply
        return list(replies[-1])

    def _reload_scripts(self) -> None:
        for loaded in self._send([("SCRIPT", "LOAD", s.script) for s in self._scripts]):
            if isinstance(loaded, Exception):
                raise loaded

    def _send(self, commands: Sequence[Command], ordered: bool = True) -> list[Any]:
        if self._cluster is not None:
            return self._cluster.roundtrip(commands, ordered=ordered)
        return self._links.roundtrip(commands)

    def _script(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return self._pipeline([("EVALSHA", script.sha, len(keys), *keys, *args)])[0]

    def _calls(self) -> _Calls:
        return self._guard


class _Calls:
    """``with store._calls():`` refuses a closed store and turns redis-py errors into wfcore's.

    One object per store, reused: cheaper than a generator context manager per round trip.
    """

    __slots__ = ("_store",)

    def __init__(self, store: RedisConnection) -> None:
        self._store = store

    def __enter__(self) -> None:
        if self._store._closed:
            raise StoreUnavailableError(f"{self._store!r} was closed; open a new store")

    def __exit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        if isinstance(error, redis.RedisError):
            raise store_error(self._store._target, error) from error


def hash_fields(reply: Any) -> dict[bytes, bytes]:
    """An HGETALL reply as a dict: a map under RESP3 (redis-py's default), a flat list under
    RESP2."""
    return cast(dict[bytes, bytes], reply) if isinstance(reply, dict) else layout.pairs(reply)


def scored_pairs(reply: Any) -> list[tuple[bytes, float]]:
    """A WITHSCORES reply as (member, score) pairs: pairs under RESP3 (redis-py's default),
    flat under RESP2."""
    if reply and isinstance(reply[0], list):
        return [(member, float(score)) for member, score in reply]
    return [(m, float(s)) for m, s in zip(reply[::2], reply[1::2], strict=True)]


def active_member(workflow_id: str, invocation_id: str) -> str:
    """The active-index entry of an invocation.

    Workflow ids hold no whitespace, so the first space splits it; and as ' ' sorts below
    every character they may hold, entries of equal score sort as (workflow_id,
    invocation_id) pairs do: the other stores' tie order.
    """
    return f"{workflow_id} {invocation_id}"


def _server_of(client: redis.Redis) -> tuple[object, ...]:
    kwargs = client.connection_pool.connection_kwargs
    where = kwargs.get("path") or (kwargs.get("host", "localhost"), int(kwargs.get("port", 6379)))
    return where, int(kwargs.get("db") or 0), kwargs.get("username")
