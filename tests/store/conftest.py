"""The store fixture: one conformance suite runs against memory, SQLite, real Redis and real
PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from wfcore.store import StateStore, open_store
from wfcore.store.redis import RedisStore


@dataclass(frozen=True, slots=True)
class StoreUnderTest:
    """How to reach the store under test: from this process, and from another one.

    ``url`` is None for the memory store, which other processes cannot share; races on it
    use threads instead of processes.
    """

    kind: str
    url: str | None
    make: Callable[[], StateStore]


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        "redis",
        "redis-resp2",
        "redis-cluster",
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> StoreUnderTest:
    """Each kind of store, fresh and isolated (a temp file, a unique Redis key prefix, or a
    unique PostgreSQL schema).

    Redis runs twice: with redis-py's default protocol (RESP3, where hashes come back as
    maps) and with ``?protocol=2`` (flat lists); and once more on a six-node Redis Cluster
    (the sharded key layout, every call routed to its slot's node).
    """
    kind: str = request.param
    url: str | None
    if kind == "memory":
        from wfcore.store.memory import MemoryStore

        shared = MemoryStore(retention=60.0)
        url = None
        make: Callable[[], StateStore] = lambda: shared  # noqa: E731
    elif kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
        make = lambda: open_store(url, retention=60.0)  # type: ignore[arg-type]  # noqa: E731
    elif kind == "redis-cluster":
        cluster = request.getfixturevalue("redis_cluster")
        url = cluster.url(prefix=f"t-{uuid.uuid4().hex[:12]}")
        cluster_url: str = url
        make = lambda: open_store(cluster_url, retention=60.0)  # noqa: E731
    elif kind == "postgres":
        pg_url: str = request.getfixturevalue("postgres_url")
        url = pg_url
        make = lambda: open_store(pg_url, retention=60.0)  # noqa: E731
    else:
        redis_url: str = request.getfixturevalue("redis_url")
        sep = "&" if "?" in redis_url else "?"
        redis_store_url = f"{redis_url}{sep}prefix=t-{uuid.uuid4().hex[:12]}"
        if kind == "redis-resp2":
            redis_store_url += "&protocol=2"
        url = redis_store_url
        make = lambda: open_store(redis_store_url, retention=60.0)  # noqa: E731
    return StoreUnderTest(kind, url, make)


@pytest.fixture
def store(backend: StoreUnderTest) -> Iterator[StateStore]:
    """A fresh store of the parametrised kind, closed afterwards."""
    instance = backend.make()
    try:
        yield instance
    finally:
        instance.close()


# -- Redis-only tests: a raw client, a unique prefix and stores under it --------------------


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    """A plain client on the test server, to look at what the store wrote."""
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def prefix() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make(redis_url: str, prefix: str) -> Iterator[Callable[..., RedisStore]]:
    """Builds stores on the test server under this test's prefix; closes them afterwards."""
    stores: list[RedisStore] = []

    def build(**options: Any) -> RedisStore:
        options.setdefault("prefix", prefix)
        store = RedisStore(redis_url, **options)
        stores.append(store)
        return store

    yield build
    for store in stores:
        store.close()
