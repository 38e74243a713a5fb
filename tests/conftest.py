"""Shared fixtures: a throwaway redis-server and Redis Cluster (started here, stopped by
pid)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.support.redis_cluster import RedisCluster, start_cluster, stop_cluster
from tests.support.redis_server import RedisServer, start_redis, stop_redis


def _need_redis_binary() -> None:
    # Locally a missing binary skips the Redis tests; in CI it must fail loudly instead.
    if shutil.which("redis-server") is None and not os.environ.get("WFCORE_TEST_REDIS_URL"):
        if os.environ.get("CI"):
            pytest.fail("redis-server is required in CI (apt-get install redis-server)")
        pytest.skip("redis-server is not installed")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server on a free port for the whole session; never the system one on 6379."""
    _need_redis_binary()
    server = start_redis()
    try:
        yield server
    finally:
        stop_redis(server)


@pytest.fixture
def redis_url(redis_server: RedisServer, request: pytest.FixtureRequest) -> str:
    """A URL on the test server; WFCORE_TEST_REDIS_URL wins when set."""
    return os.environ.get("WFCORE_TEST_REDIS_URL") or redis_server.url(0)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A six-node Redis Cluster (3 primaries, 3 replicas) on free ports for the session."""
    _need_redis_binary()
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        stop_cluster(cluster)
