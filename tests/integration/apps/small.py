"""A small workflow with one child, on a queue of its own (the RabbitMQ test uses it)."""

from __future__ import annotations

from typing import Any

from wfcore_dramatiq import App, DramatiqTask

__all__ = ["Small"]


class Small:
    """``parent(n)`` runs ``child(n)`` as a plain child and returns both identities."""

    def __init__(self, app: App, queue_name: str) -> None:
        @app.task(queue_name=queue_name)
        def small_child(n: int) -> dict[str, Any]:
            return {"square": n * n, "workflow_id": small_child.workflow.workflow_id}

        @app.task(queue_name=queue_name)
        def small_parent(n: int) -> dict[str, Any]:
            wf = small_parent.wf
            child = wf.execute_task(small_child, n)
            return {
                "workflow_id": small_parent.workflow.workflow_id,
                "child": child.result,
                "uuid": wf.uuid(),
            }

        self.child: DramatiqTask[[int], dict[str, Any]] = small_child
        self.parent: DramatiqTask[[int], dict[str, Any]] = small_parent
