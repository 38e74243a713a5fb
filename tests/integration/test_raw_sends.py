"""Raw Dramatiq sends of a workflow task inside a workflow are refused, not silently doubled."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from wfcore import WorkflowStatus
from wfcore.errors import WorkflowFailedError
from wfcore_dramatiq import App


def test_raw_actor_send_of_a_task_inside_a_workflow_is_a_clear_error(
    make_app: Callable[..., App],
) -> None:
    app = make_app()

    @app.task
    def child() -> int:
        return 1

    @app.task(max_retries=0)
    def flow() -> None:
        child.actor.send()  # escapes the history: would run again on every replay

    handle = flow.send_with_options()
    with pytest.raises(WorkflowFailedError, match=r"child\.send\(\.\.\.\) or wf\.start_task"):
        handle.result(timeout=10)


def test_a_plain_function_passed_to_execute_task_fails_the_workflow_at_once(
    make_app: Callable[..., App],
) -> None:
    # Given a plain function (neither a workflow task nor a Dramatiq actor), and a workflow
    # that passes it to wf.execute_task, with Dramatiq's default retries (20)
    app = make_app()

    def plain() -> int:
        return 1

    @app.task
    def flow() -> None:
        flow.wf.execute_task(plain)

    # When it runs
    handle = flow.send_with_options()
    # Then it fails at once, not retried, with the misuse named in the stored error
    with pytest.raises(WorkflowFailedError, match=r"plain") as failed:
        handle.result(timeout=10)
    assert failed.value.error_type.endswith("ConfigurationError")
    assert "is not a wfcore task nor a Dramatiq actor" in failed.value.error_message
    assert handle.status() is WorkflowStatus.FAILED
    root = app.store.get_invocation(handle.workflow_id, handle.workflow_id)
    assert root is not None
    assert root.attempts == 1
