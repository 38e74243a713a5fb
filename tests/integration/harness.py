"""Deployments the broker-parametrised suites run on, and real ``dramatiq`` worker processes.

A ``Deployment`` is what a test talks to: an ``App`` (the client), the declared ``Scenarios``
and the side-effect ``Ledger``. Two kinds exist:

- ``stub``: the embedded App (``StubBroker`` + worker threads in this process, temp SQLite).
- ``redis``: a ``RedisBroker`` with a unique namespace and a ``RedisStore`` with a unique prefix
  on the throwaway test redis-server, served by a real ``dramatiq`` CLI worker process that
  imports ``tests.integration.apps.worker``.
- ``postgres``: the same worker and broker, with a ``PostgresStore`` in a schema of its own in
  the test session's PostgreSQL database.

The fixtures are imported by the conftests of ``tests/integration`` and ``tests/acceptance``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import pytest
import redis

from tests.integration.apps.aio import Aio
from tests.integration.apps.deploy import build_app
from tests.integration.apps.interop import Interop
from tests.integration.apps.ledger import Ledger
from tests.integration.apps.scenarios import Scenarios
from tests.integration.apps.small import Small
from tests.support import worker_processes
from tests.support.redis_server import RedisServer
from wfcore import HistoryEvent
from wfcore_dramatiq import App, DramatiqTask, WorkflowHandle

__all__ = [
    "RESULT_TIMEOUT",
    "Deployment",
    "WorkerProcess",
    "data_value",
    "deployment",
    "delete_redis_keys",
    "postgres_deployment",
    "redis_deployment",
    "redis_url_of",
    "served_suite",
    "start",
    "token",
    "with_query",
]

P = ParamSpec("P")
R = TypeVar("R")

ROOT = Path(__file__).resolve().parents[2]
RESULT_TIMEOUT = 30.0
"""Seconds a test waits for a workflow result before failing (never a sleep)."""

_READY = "Worker process is ready for action"


@dataclass(frozen=True, slots=True)
class Deployment:
    """One App (client side), its declared scenario tasks, and the side-effect ledger."""

    kind: str
    app: App
    s: Scenarios
    ledger: Ledger


def start(task: DramatiqTask[P, R], *args: P.args, **kwargs: P.kwargs) -> WorkflowHandle[R]:
    """``task.send(...)`` from outside a workflow, narrowed to the WorkflowHandle it returns."""
    handle = task.send(*args, **kwargs)
    assert isinstance(handle, WorkflowHandle), handle
    return handle


def token() -> str:
    """A unique name for one test's workflows, ledger journals and ids."""
    return uuid.uuid4().hex[:16]


def data_value(history: list[HistoryEvent], key: str) -> Any:
    """The last value the workflow's history shows written under data ``key``."""
    values = [e.value for e in history if e.kind == "set_data" and e.name == key]
    assert values, f"no set_data({key!r}) in the history"
    return values[-1]


# -- real worker processes -------------------------------------------------------------------


class WorkerProcess:
    """``dramatiq tests.integration.apps.worker:broker`` in its own session, logging to a file.

    ``target`` names another module (``pkg.mod`` or ``pkg.mod:broker``); ``command`` replaces
    the whole argument list after ``dramatiq`` (e.g. one copied from the docs), with
    ``processes`` worker processes to wait for. Stopped the way Dramatiq expects (SIGTERM,
    then wait); killed (its own process group, by id) only when it does not stop in time.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        log_path: Path,
        *,
        threads: int = 4,
        target: str = "tests.integration.apps.worker:broker",
        command: list[str] | None = None,
        processes: int = 1,
    ) -> None:
        self.env = dict(env)
        self.log_path = log_path
        self.threads = threads
        self.target = target
        self.command = command
        self.processes = processes
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, ready_timeout: float = 30.0) -> None:
        """Start the CLI and wait until each of its worker processes consumes."""
        exe = Path(sys.executable).parent / "dramatiq"
        args = [str(exe), self.target, "--processes", "1", "--threads", str(self.threads)]
        args += ["--path", str(ROOT), "--worker-shutdown-timeout", "5000"]
        if self.command is not None:
            args = [str(exe), *self.command]
        env = {**os.environ, **self.env, "PYTHONPATH": str(ROOT)}
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        worker_processes.remember(self._proc)
        deadline = time.monotonic() + ready_timeout
        while self.log().count(_READY) < self.processes:
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dramatiq worker did not start:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def log(self) -> str:
        """What the worker logged so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def kill(self) -> None:
        """SIGKILL the CLI and its worker processes (its own process group, by id): no
        shutdown, no acks, in-flight messages left to redelivery and recovery."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        worker_processes.forget(proc)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the CLI's main process (it stops its worker), wait; kill on timeout."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        if not worker_processes.forget(proc):  # else the session's end signalled it already
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this Popen created
            proc.wait(timeout=10)


def redis_url_of(server: RedisServer) -> str:
    """The Redis URL tests use (``WFCORE_TEST_REDIS_URL`` wins, as in ``tests/conftest``)."""
    return os.environ.get("WFCORE_TEST_REDIS_URL") or server.url(0)


def with_query(url: str, **params: str) -> str:
    """``url`` with extra query parameters."""
    sep = "&" if "?" in url else "?"
    return url + sep + "&".join(f"{k}={v}" for k, v in params.items())


def delete_redis_keys(url: str, *prefixes: str) -> None:
    """Delete the keys this run created (by its unique prefixes); never FLUSHALL."""
    client = redis.Redis.from_url(url.split("?", 1)[0])
    try:
        for prefix in prefixes:
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            for i in range(0, len(keys), 500):
                client.delete(*keys[i : i + 500])
    finally:
        client.close()


@contextmanager
def served_suite(
    redis_server: RedisServer,
    log_dir: Path,
    suite: str,
    *,
    worker: bool = True,
    store_url: str | None = None,
) -> Iterator[tuple[Scenarios | Small | Interop | Aio, dict[str, str]]]:
    """The tasks of ``suite`` (the client side's App) and the environment its workers use,
    while a real worker process serves them over Redis (none with ``worker=False``: the test
    starts its own), under a unique broker namespace and store prefix deleted afterwards.

    ``store_url`` puts the store elsewhere (a PostgreSQL schema of the test's own) instead of
    under a prefix on the same Redis."""
    redis_url = redis_url_of(redis_server)
    run = uuid.uuid4().hex[:12]
    namespace, prefix = f"wfcore-{suite}-{run}", f"wfcore-{suite}-store-{run}"
    env = {
        "WFCORE_IT_BROKER_URL": redis_url,
        "WFCORE_IT_NAMESPACE": namespace,
        "WFCORE_IT_STORE_URL": store_url or with_query(redis_url, prefix=prefix),
        "WFCORE_IT_SUITE": suite,
        "WFCORE_IT_LEDGER": str(log_dir / "ledger"),
    }
    app, tasks = build_app(env)
    process = WorkerProcess(env, log_dir / "worker.log")
    if worker:
        process.start()
    try:
        yield tasks, env
    finally:
        process.stop()
        app.close()
        app.broker.close()
        delete_redis_keys(redis_url, namespace, prefix)


# -- fixtures --------------------------------------------------------------------------------


@contextmanager
def _served_deployment(
    redis_server: RedisServer, root: Path, store_url: str | None
) -> Iterator[Deployment]:
    url = redis_url_of(redis_server)
    run = uuid.uuid4().hex[:12]
    namespace, prefix = f"wfcore-it-{run}", f"wfcore-it-store-{run}"
    env = {
        "WFCORE_IT_BROKER_URL": url,
        "WFCORE_IT_NAMESPACE": namespace,
        "WFCORE_IT_STORE_URL": store_url or with_query(url, prefix=prefix),
        "WFCORE_IT_LEDGER": str(root / "ledger"),
        "WFCORE_IT_SUITE": "scenarios",
    }
    app, tasks = build_app(env)
    assert isinstance(tasks, Scenarios)
    worker = WorkerProcess(env, root / "worker.log")
    try:
        worker.start()
        yield Deployment("redis" if store_url is None else "postgres", app, tasks, tasks.ledger)
    finally:
        worker.stop()
        app.close()
        app.broker.close()
        delete_redis_keys(url, namespace, prefix)


@pytest.fixture(scope="session")
def redis_deployment(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """The scenario tasks served by a real ``dramatiq`` worker process over Redis.

    One worker for the whole session: starting the CLI costs about a second, and every test
    isolates itself with unique tokens. Broker namespace and store prefix are unique so
    nothing else on that server is touched, and their keys are deleted afterwards.
    """
    with _served_deployment(redis_server, tmp_path_factory.mktemp("redis-deployment"), None) as d:
        yield d


@pytest.fixture(scope="session")
def postgres_deployment(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory, postgres_database: str
) -> Iterator[Deployment]:
    """The same, with the store in PostgreSQL (a schema of its own in the session's database)."""
    store_url = f"{postgres_database}?schema=it_{uuid.uuid4().hex[:12]}"
    root = tmp_path_factory.mktemp("postgres-deployment")
    with _served_deployment(redis_server, root, store_url) as deployment:
        yield deployment


@pytest.fixture(
    params=[
        "stub",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("postgres", marks=[pytest.mark.redis, pytest.mark.postgres]),
    ]
)
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    """The same tests on the embedded StubBroker App and on real worker processes.

    ``stub`` is fresh per test (temp SQLite store, in-process worker threads); ``redis`` is
    the session's real worker process on Redis, shared (tests isolate themselves by token);
    ``postgres`` the same with the store in PostgreSQL.
    """
    if request.param in ("redis", "postgres"):
        yield request.getfixturevalue(f"{request.param}_deployment")
        return
    app = App(store=f"sqlite:///{tmp_path / 'wfcore.sqlite3'}", worker_threads=4)
    ledger = Ledger(tmp_path / "ledger")
    try:
        yield Deployment("stub", app, Scenarios(app, ledger), ledger)
    finally:
        app.close()
