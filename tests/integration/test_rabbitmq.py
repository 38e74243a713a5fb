"""A workflow with a child through RabbitMQ and a real ``dramatiq`` worker process."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pika  # type: ignore[import-untyped]
import pika.exceptions  # type: ignore[import-untyped]
import pytest

from tests.integration.apps.deploy import build_app
from tests.integration.apps.small import Small
from tests.integration.harness import (
    RESULT_TIMEOUT,
    WorkerProcess,
    delete_redis_keys,
    redis_url_of,
    start,
    with_query,
)
from tests.support.redis_server import RedisServer
from wfcore import WorkflowStatus
from wfcore_dramatiq import App

pytestmark = [pytest.mark.rabbitmq, pytest.mark.redis]

AMQP_URL = os.environ.get("WFCORE_TEST_AMQP_URL", "amqp://guest:guest@localhost:5672")


def _need_rabbitmq() -> None:
    # Locally an absent RabbitMQ skips; in CI (env CI set) it must fail loudly instead.
    parts = urlsplit(AMQP_URL)
    try:
        with socket.create_connection((parts.hostname or "localhost", parts.port or 5672), 2):
            return
    except OSError as exc:
        reason = f"RabbitMQ is not reachable at {parts.hostname}:{parts.port or 5672}: {exc}"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the RabbitMQ test")
    pytest.skip(reason)


def _delete_queues(names: list[str]) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        for name in names:
            channel = connection.channel()
            try:
                channel.queue_delete(queue=name)
                channel.close()
            except pika.exceptions.ChannelClosedByBroker:
                pass  # the queue was never declared
    finally:
        connection.close()


@pytest.fixture
def rabbit(redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[App, Small]]:
    """A RabbitMQ-backed App and a real worker on a queue of its own, deleted afterwards.

    The state store is Redis (unique prefix) on the throwaway test server.
    """
    _need_rabbitmq()
    run = uuid.uuid4().hex[:12]
    queue, prefix = f"wfcore-it-{run}", f"wfcore-it-rmq-{run}"
    redis_url = redis_url_of(redis_server)
    env = {
        "WFCORE_IT_BROKER_URL": AMQP_URL,
        "WFCORE_IT_STORE_URL": with_query(redis_url, prefix=prefix),
        "WFCORE_IT_SUITE": "small",
        "WFCORE_IT_QUEUE": queue,
    }
    app, tasks = build_app(env)
    assert isinstance(tasks, Small)
    worker = WorkerProcess(env, tmp_path / "worker.log", threads=2)
    try:
        worker.start()
        yield app, tasks
    finally:
        worker.stop()
        app.close()
        app.broker.close()
        _delete_queues([queue, f"{queue}.DQ", f"{queue}.XQ"])
        delete_redis_keys(redis_url, prefix)


def test_a_workflow_with_a_child_runs_through_rabbitmq(rabbit: tuple[App, Small]) -> None:
    # Given a RabbitMQ broker and a real dramatiq worker process
    app, tasks = rabbit

    # When a workflow that executes a child is started from this process
    handle = start(tasks.parent, 7)
    result = handle.result(timeout=RESULT_TIMEOUT)

    # Then the worker ran parent and child in one workflow and recorded both
    assert result["child"] == {"square": 49, "workflow_id": handle.workflow_id}
    assert result["workflow_id"] == handle.workflow_id
    assert uuid.UUID(result["uuid"]).version == 4
    assert handle.status() is WorkflowStatus.COMPLETED
    names = [i.task_name for i in app.store.list_invocations(handle.workflow_id)]
    assert names == ["small_parent", "small_child"]
