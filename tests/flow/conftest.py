"""Fixtures of the flow tests: the seed workflows in-process, on the embedded App, and on a
real ``dramatiq`` worker process over Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.apps.flows import SeedFlows, build_flow_app
from tests.integration.harness import WorkerProcess, delete_redis_keys, redis_url_of, with_query
from tests.support.redis_server import RedisServer
from wfcore_dramatiq import App

__all__ = ["FlowSetup", "RedisFlows", "flow_env", "redis_env", "redis_flows"]


@dataclass(frozen=True, slots=True)
class FlowSetup:
    """Where the seed workflows run: ``inprocess``, ``embedded`` or ``redis``."""

    kind: str
    seeds: SeedFlows
    app: App | None


@dataclass(frozen=True, slots=True)
class RedisFlows:
    """The client App of a real-worker deployment and the environment its workers use."""

    app: App
    seeds: SeedFlows
    env: dict[str, str]
    root: Path


def redis_env(url: str, root: Path) -> tuple[dict[str, str], list[str]]:
    """A unique broker namespace, store prefix and ledger directory; and the key prefixes
    to delete afterwards."""
    run = uuid.uuid4().hex[:12]
    namespace, prefix = f"wfcore-flow-{run}", f"wfcore-flow-store-{run}"
    env = {
        "WFCORE_IT_BROKER_URL": url,
        "WFCORE_IT_NAMESPACE": namespace,
        "WFCORE_IT_STORE_URL": with_query(url, prefix=prefix),
        "WFCORE_IT_LEDGER": str(root / "ledger"),
    }
    return env, [namespace, prefix]


@pytest.fixture(scope="session")
def redis_flows(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedisFlows]:
    """The seed workflows served by one real ``dramatiq`` worker process for the session."""
    url = redis_url_of(redis_server)
    root = tmp_path_factory.mktemp("flow-redis")
    env, prefixes = redis_env(url, root)
    app, seeds, _ = build_flow_app(env)
    worker = WorkerProcess(env, root / "worker.log", target="tests.integration.apps.flow_worker")
    try:
        worker.start()
        yield RedisFlows(app, seeds, env, root)
    finally:
        worker.stop()
        app.close()
        app.broker.close()
        delete_redis_keys(url, *prefixes)


@pytest.fixture(params=["inprocess", "embedded", pytest.param("redis", marks=pytest.mark.redis)])
def flow_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FlowSetup]:
    """The same seed workflows in this process, on a fresh embedded App, and on real workers."""
    if request.param == "inprocess":
        yield FlowSetup("inprocess", SeedFlows(None), None)
    elif request.param == "embedded":
        app = App(store=f"sqlite:///{tmp_path / 'wfcore.sqlite3'}", worker_threads=2)
        try:
            yield FlowSetup("embedded", SeedFlows(app), app)
        finally:
            app.close()
    else:
        deployment: RedisFlows = request.getfixturevalue("redis_flows")
        yield FlowSetup("redis", deployment.seeds, deployment.app)
