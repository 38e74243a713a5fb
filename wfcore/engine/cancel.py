"""Cancellation: a workflow and its descendants cancelled persistently."""

from __future__ import annotations

from wfcore._models import WorkflowStatus
from wfcore.engine.outcomes import Outcomes

__all__ = ["Cancelling"]


class Cancelling(Outcomes):
    """Requests cancellation down a workflow tree, persistently."""

    def cancel(self, workflow_id: str) -> bool:
        """Cancel a workflow and its descendant workflows, persistently.

        Running and suspended invocations get ``WorkflowCancelled`` at their next ``wf``
        operation (suspended ones are woken for it); queued ones that never ran are skipped.

        Returns:
            False when the workflow had already finished (nothing to cancel), else True.

        Raises:
            WorkflowNotFoundError: there is no such workflow.
        """
        record = self.workflow(workflow_id)
        if record.status.finished:
            return False
        # Flag first, then list the children: a child workflow created meanwhile is either
        # listed here or created after the flag, and then born cancelled (the store copies a
        # parent's flag into a child workflow it creates, unless cleanup code started it).
        pending = [record]
        while pending:
            current = pending.pop()
            if not current.status.finished:
                self.store.request_cancel(current.workflow_id)
                for inv in self.store.list_invocations(current.workflow_id):
                    if inv.status is WorkflowStatus.SUSPENDED:
                        self.dispatcher.enqueue(inv.ref)
            # A finished workflow may have left children running (started, never awaited).
            pending.extend(self.store.child_workflows(current.workflow_id))
        return True
