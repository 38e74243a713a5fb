"""Shared fixtures: a throwaway redis-server and Redis Cluster (started here, stopped by pid)
and a throwaway PostgreSQL database on the machine's PostgreSQL service (created here,
dropped after)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import pytest

from tests.support import postgres_server, worker_processes
from tests.support.redis_cluster import RedisCluster, start_cluster, stop_cluster
from tests.support.redis_server import RedisServer, running_redis


def _need_redis_binary() -> None:
    # Locally a missing binary skips the Redis tests; in CI it must fail loudly instead.
    if shutil.which("redis-server") is None and not os.environ.get("WFCORE_TEST_REDIS_URL"):
        if os.environ.get("CI"):
            pytest.fail("redis-server is required in CI (apt-get install redis-server)")
        pytest.skip("redis-server is not installed")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Before the session's last teardown: signal every worker CLI still running, so the
    session fixtures that stop them wait for shutdowns that run side by side."""
    if nextitem is None:
        worker_processes.terminate_all()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server on a free port for the whole session; never the system one on 6379."""
    _need_redis_binary()
    with running_redis() as server:
        yield server


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


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """The URL of a database created for this test session on the PostgreSQL service, dropped
    at its end. Locally an unreachable server skips the PostgreSQL tests; in CI it fails."""
    why = postgres_server.reachable()
    if why is not None:
        message = f"PostgreSQL at {postgres_server.SERVER_URL} is not reachable: {why}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with postgres_server.session_database() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_database: str) -> Iterator[str]:
    """A store URL on the session's database with a schema of this test's own (dropped after)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        yield f"{postgres_database}?schema={schema}"
    finally:
        postgres_server.drop_schema(postgres_database, schema)
