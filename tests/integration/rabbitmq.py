"""RabbitMQ for the integration tests: the system broker, a suite served over it, cleanup.

RabbitMQ queues are global to the server (no namespace as on Redis), so every suite served
here runs on queues of its own (``wfcore-it-<run>``), deleted afterwards with their delay
(``.DQ``) and dead-letter (``.XQ``) queues; the state store is Redis under a unique prefix.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pika  # type: ignore[import-untyped]
import pika.exceptions  # type: ignore[import-untyped]
import pytest

from tests.integration.apps.aio import Aio
from tests.integration.apps.deploy import build_app
from tests.integration.apps.small import Small
from tests.integration.harness import WorkerProcess, delete_redis_keys, redis_url_of, with_query
from tests.support.redis_server import RedisServer
from wfcore_dramatiq import App

__all__ = ["AMQP_URL", "amqp_suite", "need_rabbitmq"]

AMQP_URL = os.environ.get("WFCORE_TEST_AMQP_URL", "amqp://guest:guest@localhost:5672")


def need_rabbitmq() -> None:
    """Skip when RabbitMQ is not reachable locally; in CI (env CI set) fail loudly instead."""
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


@contextmanager
def amqp_suite(
    redis_server: RedisServer, log_dir: Path, suite: str, *, threads: int = 2
) -> Iterator[tuple[App, Small | Aio, dict[str, str]]]:
    """The App (client side) and tasks of ``suite`` (``small`` or ``aio``) on RabbitMQ, and
    the environment of the real ``dramatiq`` worker process that serves them meanwhile."""
    need_rabbitmq()
    run = uuid.uuid4().hex[:12]
    queue, prefix = f"wfcore-it-{run}", f"wfcore-it-rmq-{run}"
    redis_url = redis_url_of(redis_server)
    env = {
        "WFCORE_IT_BROKER_URL": AMQP_URL,
        "WFCORE_IT_STORE_URL": with_query(redis_url, prefix=prefix),
        "WFCORE_IT_SUITE": suite,
        "WFCORE_IT_QUEUE": queue,
        "WFCORE_IT_LEDGER": str(log_dir / "ledger"),
    }
    app, tasks = build_app(env)
    assert isinstance(tasks, Small | Aio)
    worker = WorkerProcess(env, log_dir / "worker.log", threads=threads)
    try:
        worker.start()
        yield app, tasks, env
    finally:
        worker.stop()
        app.close()
        app.broker.close()
        _delete_queues([queue, f"{queue}.DQ", f"{queue}.XQ"])
        delete_redis_keys(redis_url, prefix)
