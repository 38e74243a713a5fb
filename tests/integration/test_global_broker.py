"""An App's broker becomes Dramatiq's global broker, so ``dramatiq myapp`` runs the App.

The in-process tests isolate Dramatiq's process-global broker (``no_global_broker``); the
real-worker tests start the ``dramatiq`` CLI on both forms of the module argument.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import dramatiq
import dramatiq.broker
import pytest
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

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

MakeApp = Callable[..., App]


@pytest.mark.usefixtures("no_global_broker")
def test_an_apps_broker_becomes_the_global_broker(make_app: MakeApp) -> None:
    # Given a process with no global broker
    broker = StubBroker()

    # When an App is created on a broker
    make_app(broker=broker)

    # Then that broker is what `dramatiq myapp` (no `:broker`) will run
    assert dramatiq.get_broker() is broker


@pytest.mark.usefixtures("no_global_broker")
def test_the_embedded_app_leaves_the_global_broker_alone(make_app: MakeApp) -> None:
    # Given a process with no global broker
    # When an embedded App (its own in-process StubBroker) is created
    make_app()

    # Then no global broker was set by it
    assert dramatiq.broker.global_broker is None


@pytest.mark.usefixtures("no_global_broker")
def test_another_global_broker_stays_and_a_warning_names_both(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a global broker set by the user's own code
    theirs = StubBroker()
    dramatiq.set_broker(theirs)
    mine = RedisBroker(namespace="wfcore-mine")  # type: ignore[no-untyped-call]

    # When an App is created on another broker
    with caplog.at_level(logging.WARNING, logger="wfcore.dramatiq"):
        make_app(broker=mine)

    # Then the global broker is unchanged and one warning names both brokers and the fix
    assert dramatiq.get_broker() is theirs
    [record] = [r for r in caplog.records if r.name == "wfcore.dramatiq"]
    assert record.levelno == logging.WARNING
    text = record.getMessage()
    assert f"StubBroker at 0x{id(theirs):x}" in text
    assert f"RedisBroker(namespace='wfcore-mine') at 0x{id(mine):x}" in text
    assert "dramatiq MODULE:VARIABLE" in text


@pytest.mark.usefixtures("no_global_broker")
def test_an_app_on_the_global_broker_itself_warns_nothing(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    # Given the usual Dramatiq set-up: a broker made global first
    broker = StubBroker()
    dramatiq.set_broker(broker)

    # When the App is created on that same broker
    with caplog.at_level(logging.WARNING, logger="wfcore.dramatiq"):
        make_app(broker=broker)

    # Then it stays global and nothing is logged
    assert dramatiq.get_broker() is broker
    assert [r for r in caplog.records if r.name == "wfcore.dramatiq"] == []


# -- real `dramatiq` worker processes ------------------------------------------------------


@pytest.fixture
def small_env(redis_server: RedisServer) -> Iterator[dict[str, str]]:
    """The environment of a small RedisBroker deployment isolated by unique names."""
    url = redis_url_of(redis_server)
    run = uuid.uuid4().hex[:12]
    namespace, prefix = f"wfcore-it-gb-{run}", f"wfcore-it-gb-store-{run}"
    yield {
        "WFCORE_IT_BROKER_URL": url,
        "WFCORE_IT_NAMESPACE": namespace,
        "WFCORE_IT_STORE_URL": with_query(url, prefix=prefix),
        "WFCORE_IT_SUITE": "small",
        "WFCORE_IT_QUEUE": f"wfcore-it-gb-{run}",
    }
    delete_redis_keys(url, namespace, prefix)


@pytest.mark.redis
@pytest.mark.parametrize(
    "target", ["tests.integration.apps.worker", "tests.integration.apps.worker:broker"]
)
def test_both_forms_of_the_dramatiq_command_run_the_apps_workflows(
    target: str, small_env: dict[str, str], tmp_path: Path
) -> None:
    # Given a module whose App is created on a RedisBroker, served by `dramatiq <target>`
    app, tasks = build_app(small_env)
    assert isinstance(tasks, Small)
    worker = WorkerProcess(small_env, tmp_path / "worker.log", threads=2, target=target)
    worker.start()
    try:
        # When a workflow with a child is started from this process
        handle = start(tasks.parent, 6)
        result = handle.result(timeout=RESULT_TIMEOUT)
        status = handle.status()
    finally:
        worker.stop()
        app.close()
        app.broker.close()

    # Then that worker ran it to completion
    assert result["child"]["square"] == 36
    assert status is WorkflowStatus.COMPLETED
