"""Async tasks on Dramatiq: the embedded App (StubBroker, worker threads, on a memory, SQLite
or Redis store) and real ``dramatiq`` worker processes on Redis and on RabbitMQ."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dramatiq.middleware.asyncio import AsyncIO

from tests.integration.apps.aio import Aio
from tests.integration.apps.ledger import Ledger
from tests.integration.harness import (
    RESULT_TIMEOUT,
    WorkerProcess,
    delete_redis_keys,
    redis_url_of,
    served_suite,
    with_query,
)
from tests.integration.rabbitmq import amqp_suite
from tests.support.redis_server import RedisServer
from wfcore import WorkflowStatus
from wfcore.errors import WorkflowFailedError
from wfcore_dramatiq import App, DramatiqTask, WorkflowHandle


def _send(task: DramatiqTask[..., Any], *args: Any) -> WorkflowHandle[Any]:
    return task.send_with_options(args=args)


def _resumes(handle: WorkflowHandle[Any], task_name: str) -> int:
    return sum(1 for e in handle.history() if e.kind == "task_resumed" and e.task_name == task_name)


def _until_suspended_on_signal(handle: WorkflowHandle[Any]) -> None:
    deadline = time.monotonic() + RESULT_TIMEOUT
    while time.monotonic() < deadline:
        waiting = any(e.kind == "wait_signal" for e in handle.history())
        if waiting and handle.status() is WorkflowStatus.SUSPENDED:
            return
        time.sleep(0.02)
    raise AssertionError("the workflow never reached its signal wait")


def _check_dashboard(aio: Aio) -> None:
    handle = _send(aio.dashboard, "ada")
    _until_suspended_on_signal(handle)
    handle.signal("approval", "yes")
    value = handle.result(timeout=RESULT_TIMEOUT)
    assert value["user"]["path"] == "/users/ada"
    # The plain async task ran on the AsyncIO middleware's event loop thread
    assert value["user"]["thread"] == "EventLoopThread"
    assert (value["recs"], value["token"], value["approval"]) == ("RECS", "token-ada", "yes")
    assert aio.app.verify_replay(handle.workflow_id).ok


def _check_join_and_calls(aio: Aio) -> None:
    joined = _send(aio.join, 30)
    assert joined.result(timeout=RESULT_TIMEOUT) == sum(range(30))
    # Children finishing close together are delivered together: far fewer than 30 replays
    assert _resumes(joined, aio.join.spec.name) <= 10
    assert aio.app.verify_replay(joined.workflow_id).ok
    parent = _send(aio.sync_parent, 20)
    assert parent.result(timeout=RESULT_TIMEOUT) == 21
    assert aio.app.verify_replay(parent.workflow_id).ok


def _check_wait_timer_and_clock(aio: Aio) -> None:
    # One wf.wait over 12 children resumes the body once; asyncio.timeout is a durable timer
    waited = _send(aio.join_wait, 12)
    assert waited.result(timeout=RESULT_TIMEOUT) == [sum(range(12)), "timed out"]
    assert _resumes(waited, aio.join_wait.spec.name) <= 2  # the children, then the timer
    assert aio.app.verify_replay(waited.workflow_id).ok
    # The wall clock read in a body fails the workflow with what to use instead
    clocky = _send(aio.clocky)
    with pytest.raises(
        WorkflowFailedError, match=r"time\.time\(\) in a workflow body.*wf\.utc_now"
    ):
        clocky.result(timeout=RESULT_TIMEOUT)


@pytest.fixture
def embedded(make_app: Callable[..., App], tmp_path: Path) -> Aio:
    return Aio(make_app(), Ledger(tmp_path / "ledger"))


def test_the_app_adds_the_asyncio_middleware_for_plain_async_tasks(embedded: Aio) -> None:
    assert sum(isinstance(m, AsyncIO) for m in embedded.app.broker.middleware) == 1


def test_async_workflows_on_the_embedded_app(embedded: Aio) -> None:
    _check_dashboard(embedded)
    _check_join_and_calls(embedded)
    _check_wait_timer_and_clock(embedded)


@pytest.mark.parametrize("store", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_async_workflows_on_the_embedded_app_with_other_stores(
    store: str, make_app: Callable[..., App], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # The embedded App (StubBroker) above runs on SQLite; the same suite on the other stores
    url, prefix = "memory://", f"wfcore-aio-{uuid.uuid4().hex[:12]}"
    if store == "redis":
        url = with_query(redis_url_of(request.getfixturevalue("redis_server")), prefix=prefix)
    aio = Aio(make_app(store=url), Ledger(tmp_path / "ledger"))
    try:
        _check_dashboard(aio)
        _check_join_and_calls(aio)
        _check_wait_timer_and_clock(aio)
    finally:
        if store == "redis":
            aio.app.close()
            delete_redis_keys(url, prefix)


@pytest.fixture(scope="module")
def redis_aio(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Aio]:
    """The async suite's App (client side) and a real worker process serving it."""
    with served_suite(redis_server, tmp_path_factory.mktemp("aio"), "aio") as (tasks, _):
        assert isinstance(tasks, Aio)
        yield tasks


@pytest.mark.redis
def test_async_workflows_on_a_real_worker_with_redis(redis_aio: Aio) -> None:
    _check_dashboard(redis_aio)
    _check_join_and_calls(redis_aio)
    _check_wait_timer_and_clock(redis_aio)


@pytest.mark.redis
@pytest.mark.rabbitmq
def test_async_workflows_on_a_real_worker_with_rabbitmq(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    # RabbitMQ broker (queues of this test's own), Redis store, a real dramatiq worker process
    with amqp_suite(redis_server, tmp_path, "aio", threads=4) as (_, aio, _env):
        assert isinstance(aio, Aio)
        _check_dashboard(aio)
        _check_join_and_calls(aio)
        _check_wait_timer_and_clock(aio)


@pytest.mark.redis
@pytest.mark.parametrize("store", ["redis", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_sigkilled_worker_mid_async_workflow_loses_nothing(
    redis_server: RedisServer, tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    # The store: on the broker's Redis, or in a PostgreSQL schema of this test's own.
    store_url = request.getfixturevalue("postgres_url") if store == "postgres" else None
    with served_suite(redis_server, tmp_path, "aio", worker=False, store_url=store_url) as (
        tasks,
        env,
    ):
        assert isinstance(tasks, Aio)
        ledger = Ledger(env["WFCORE_IT_LEDGER"])
        token = uuid.uuid4().hex[:12]
        first = WorkerProcess(env, tmp_path / "first.log")
        second = WorkerProcess(env, tmp_path / "second.log")
        try:
            # Given an async body gathering two children, one of them in flight on a worker
            first.start()
            handle = _send(tasks.crashy, token)
            deadline = time.monotonic() + RESULT_TIMEOUT
            while not ledger.exists(f"held-started-{token}"):
                assert time.monotonic() < deadline, first.log()[-2000:]
                time.sleep(0.05)
            # When that worker is SIGKILLed and another one starts
            first.kill()
            ledger.touch(f"release-{token}")
            second.start()
            value = handle.result(timeout=60)
            replayed = tasks.app.verify_replay(handle.workflow_id)
        finally:
            first.kill()
            second.stop()
    # Then the workflow finished: the in-flight child ran again, the finished one did not,
    # and the body's history replays
    assert value[1] == "released"
    assert replayed.ok, replayed.divergence
    assert ledger.count(f"held-started-{token}") >= 2
    assert ledger.count(f"counted-before-{token}") == value[0] == 1  # finished: never again
    assert value[2] >= 1  # the other gathered child may have been in flight too


@pytest.mark.redis
@pytest.mark.postgres
def test_async_workflows_on_a_real_worker_with_the_postgres_store(
    redis_server: RedisServer, tmp_path: Path, postgres_url: str
) -> None:
    # Given a real worker process on a Redis broker whose store is PostgreSQL
    with served_suite(redis_server, tmp_path, "aio", store_url=postgres_url) as (tasks, _):
        assert isinstance(tasks, Aio)
        # Then children, joins and calls of async bodies finish and replay as on Redis
        _check_dashboard(tasks)
        _check_join_and_calls(tasks)
