"""Fixtures of the chaos suite: an isolated deployment on the throwaway test redis-server
(and one whose store is in PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.harness import ChaosDeployment, deployment_fixture
from tests.support.slow import SLOW_DUPLICATE


@pytest.fixture
def chaos(redis_url: str, tmp_path: Path) -> Iterator[ChaosDeployment]:
    """A RedisBroker namespace, RedisStore prefix and bookkeeping prefix unique to this test,
    with the client App; worker processes it starts are stopped and its keys deleted after."""
    yield from deployment_fixture(redis_url, tmp_path, uuid.uuid4().hex[:12])


@pytest.fixture
def chaos_postgres(redis_url: str, postgres_url: str, tmp_path: Path) -> Iterator[ChaosDeployment]:
    """The same with the store in PostgreSQL (a schema of this test's own): the broker and the
    bookkeeping stay on Redis."""
    yield from deployment_fixture(redis_url, tmp_path, uuid.uuid4().hex[:12], postgres_url)


@pytest.fixture(
    params=["redis", pytest.param("postgres", marks=[pytest.mark.postgres, *SLOW_DUPLICATE])]
)
def chaos_stores(request: pytest.FixtureRequest) -> ChaosDeployment:
    """``chaos`` (the store on Redis) and ``chaos_postgres``, for tests run on both (on
    PostgreSQL only with ``WFCORE_SLOW=1``: tests/support/slow.py)."""
    deployment: ChaosDeployment = request.getfixturevalue(
        "chaos" if request.param == "redis" else "chaos_postgres"
    )
    return deployment
