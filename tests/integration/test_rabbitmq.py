"""A workflow with a child through RabbitMQ and a real ``dramatiq`` worker process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.apps.small import Small
from tests.integration.harness import RESULT_TIMEOUT, start
from tests.integration.rabbitmq import amqp_suite
from tests.support.redis_server import RedisServer
from wfcore import WorkflowStatus
from wfcore_dramatiq import App

pytestmark = [pytest.mark.rabbitmq, pytest.mark.redis]


@pytest.fixture
def rabbit(redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[App, Small]]:
    """A RabbitMQ-backed App and a real worker on a queue of its own, deleted afterwards.

    The state store is Redis (unique prefix) on the throwaway test server.
    """
    with amqp_suite(redis_server, tmp_path, "small") as (app, tasks, _):
        assert isinstance(tasks, Small)
        yield app, tasks


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
