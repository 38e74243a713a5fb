"""Raw Dramatiq sends of a workflow task inside a workflow are refused, not silently doubled."""

from __future__ import annotations

from collections.abc import Callable

import pytest

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
