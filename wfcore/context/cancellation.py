"""Cancellation inside a run: where ``WorkflowCancelled`` is delivered, and recorded."""

from __future__ import annotations

from wfcore._history import Kind
from wfcore.context.recording import Recording
from wfcore.errors import WorkflowCancelled

__all__ = ["Cancellation"]


class Cancellation(Recording):
    """Delivers a requested cancellation at the run's next ``wf`` operation or suspension."""

    def _cancel_point(self) -> None:
        """Before suspending: deliver a cancellation recorded here, or one pending now."""
        seq = self._seq
        if seq < len(self._entries):
            entry = self._entry_at(seq)
            if entry.kind == Kind.CANCELLED:
                self._seq = seq + 1
                self._deliver_cancel(record=False)
        elif self._cancel_pending:
            self._deliver_cancel(record=True)

    def _deliver_cancel(self, *, record: bool) -> None:
        """Raise ``WorkflowCancelled`` here; recorded, so every replay raises it here too."""
        if record:
            self._record(Kind.CANCELLED, "", None)
        self._cancel_pending = False
        self._cancel_delivered = True
        raise WorkflowCancelled(self.workflow.workflow_id)
