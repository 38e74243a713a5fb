"""Fixtures of the ``wfcore.steps`` tests: the embedded default App (a temp SQLite store) and
a real ``dramatiq`` worker process over Redis (isolated as the flow tests' ``redis_env``),
both running the same workflows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import wfcore.steps.registry
from tests.flow.conftest import redis_env
from tests.integration.apps.steps_flows import build_steps_app
from tests.integration.harness import WorkerProcess, delete_redis_keys, redis_url_of
from tests.support.redis_server import RedisServer
from wfcore_dramatiq import App

__all__ = ["RedisSteps", "Setup", "redis_env", "redis_steps", "setup"]

WORKER = "tests.integration.apps.steps_worker"


@dataclass(frozen=True, slots=True)
class Setup:
    """Where a test's workflows run: ``embedded`` (app None: the default App) or ``redis``."""

    kind: str
    app: App | None
    ledger: Path

    def ctx(self, **values: Any) -> dict[str, Any]:
        """A fresh ctx with this test's ledger and a unique token."""
        return {"ledger": str(self.ledger), "token": uuid.uuid4().hex[:12], **values}


@dataclass(frozen=True, slots=True)
class RedisSteps:
    """The client App of a real-worker deployment and the environment its workers use."""

    app: App
    env: dict[str, str]
    root: Path


@pytest.fixture(scope="session")
def redis_steps(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedisSteps]:
    """Every steps workflow served by one real ``dramatiq`` worker process for the session."""
    url = redis_url_of(redis_server)
    root = tmp_path_factory.mktemp("steps-redis")
    env, prefixes = redis_env(url, root)
    app = build_steps_app(env)
    worker = WorkerProcess(env, root / "worker.log", target=WORKER)
    try:
        worker.start()
        yield RedisSteps(app, env, root)
    finally:
        worker.stop()
        app.close()
        app.broker.close()
        delete_redis_keys(url, *prefixes)


@pytest.fixture
def default_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A fresh process default App for this test, on a temp SQLite store (WFCORE_STORE_URL)."""
    monkeypatch.setenv("WFCORE_STORE_URL", f"sqlite:///{tmp_path / 'default.sqlite3'}")
    created: list[App] = []
    monkeypatch.setattr(wfcore.steps.registry, "_DEFAULT", created)
    try:
        yield
    finally:
        for app in created:
            app.close()


@pytest.fixture(params=["embedded", pytest.param("redis", marks=pytest.mark.redis)])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    """The same workflows on the embedded default App and on a real Redis worker."""
    if request.param == "embedded":
        request.getfixturevalue("default_app")
        yield Setup("embedded", None, tmp_path / "ledger")
    else:
        deployment: RedisSteps = request.getfixturevalue("redis_steps")
        yield Setup("redis", deployment.app, Path(deployment.env["WFCORE_IT_LEDGER"]))
