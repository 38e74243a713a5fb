"""Signals and workflow data from outside a workflow: ``signal``, ``data``, ``get_data``."""

from __future__ import annotations

from typing import Any

from wfcore import _signals
from wfcore._models import SignalResult
from wfcore.context.data import INTERNAL_KEY_PREFIX
from wfcore.engine.outcomes import Outcomes

__all__ = ["Signalling"]


class Signalling(Outcomes):
    """What clients (``WorkflowHandle``, ``App``, ``LocalRunner``, the CLI) send and read."""

    def signal(
        self, workflow_id: str, name: str, payload: Any = None, *, signal_id: str | None = None
    ) -> SignalResult:
        """Send signal ``name`` with ``payload`` to a workflow; durable when this returns.

        The store accepts it atomically: delivered to the oldest wait for ``name`` (whose
        invocation is woken, by exactly one sender), or buffered for the next one.
        ``signal_id`` makes retries safe: a signal with an id accepted before is not stored
        again (the result says ``duplicate``).

        Raises:
            WorkflowNotRunningError: the workflow has finished (its status is in the error).
            WorkflowNotFoundError: there is no such workflow.
            EncodeError: ``payload`` cannot be encoded; nothing was stored.
            ConfigurationError: ``name``, ``workflow_id`` or ``signal_id`` is not a
                non-empty str.
        """
        result = _signals.send(
            self.store, self.codec, self.dispatcher, workflow_id, name, payload, signal_id
        )
        if not (result.accepted or result.duplicate):
            raise _signals.refusal(workflow_id, name, result.status)
        return result

    def data(self, workflow_id: str) -> dict[str, Any]:
        """Every workflow data value (``wf.set_data``), decoded, by key; read, not replayed.

        Keys wfcore keeps for itself (``wfcore.`` prefix) are left out.

        Raises:
            WorkflowNotFoundError: there is no such workflow.
        """
        self.workflow(workflow_id)
        what = f"data of workflow {workflow_id!r}"
        return {
            key: self.codec.decode(raw, what=f"{what}, key {key!r}")
            for key, raw in self.store.list_data(workflow_id).items()
            if not key.startswith(INTERNAL_KEY_PREFIX)
        }

    def get_data(self, workflow_id: str, key: str, default: Any = None) -> Any:
        """One workflow data value, or ``default`` when it was never set.

        Raises:
            WorkflowNotFoundError: there is no such workflow.
        """
        _signals.check_name("get_data", key, "key")
        raw = self.store.read_data(workflow_id, key)
        if raw is None:
            self.workflow(workflow_id)
            return default
        return self.codec.decode(raw, what=f"data {key!r} of workflow {workflow_id!r}")
