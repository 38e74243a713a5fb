"""Task messages in groups and pipelines, with Results on Redis, and plain actors as
children, served by a real ``dramatiq`` worker process."""

from __future__ import annotations

from collections.abc import Iterator

import dramatiq
import pytest

from tests.integration.apps.interop import Interop
from tests.integration.harness import served_suite
from tests.support.redis_server import RedisServer
from wfcore import WorkflowStatus

pytestmark = pytest.mark.redis

TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def interop(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Interop]:
    """The interop suite's App (client side) and a worker process serving it."""
    with served_suite(redis_server, tmp_path_factory.mktemp("interop"), "interop") as (tasks, _):
        assert isinstance(tasks, Interop)
        yield tasks


def test_a_group_gives_the_final_results_of_its_workflows(interop: Interop) -> None:
    # Given a group of workflow messages, one suspending before it finishes
    broker = interop.double.app.broker
    group = dramatiq.group(  # type: ignore[no-untyped-call]
        [interop.double.message(4), interop.slow_inc.message(5)], broker=broker
    )
    # When a worker process runs it, Then Results on Redis hold the workflows' results
    group.run()  # type: ignore[no-untyped-call]
    results = group.get_results(block=True, timeout=TIMEOUT_MS)  # type: ignore[no-untyped-call]
    assert list(results) == [8, 11]


def test_a_pipeline_passes_each_workflows_final_result_on(interop: Interop) -> None:
    # Given a pipeline across workflows that suspend
    steps = [interop.slow_inc.message(1), interop.double.message_with_options()]
    steps.append(interop.slow_inc.message_with_options())
    pipe = dramatiq.pipeline(steps, broker=interop.double.app.broker)
    # When it runs, Then each step got the previous workflow's final result
    pipe.run()  # type: ignore[no-untyped-call]
    assert pipe.get_result(block=True, timeout=TIMEOUT_MS) == 13  # type: ignore[no-untyped-call]


def test_plain_actors_are_children_on_a_real_worker(interop: Interop) -> None:
    # When a workflow runs a plain actor that succeeds and one that fails for good
    handle = interop.orchestrate.send_with_options(args=("hi",))
    # Then it gets the value and a TaskFailedError with the actor's error
    assert handle.result(timeout=30) == {
        "loud": "HI",
        "error": ["ValueError", "cannot shout boom"],
    }
    app = interop.orchestrate.app
    children = app.store.list_invocations(handle.workflow_id)[1:]
    assert [(c.task_name, c.status) for c in children] == [
        ("shout", WorkflowStatus.COMPLETED),
        ("shout", WorkflowStatus.FAILED),
    ]
    # And it replays without running the actors
    assert app.verify_replay(handle.workflow_id).ok
