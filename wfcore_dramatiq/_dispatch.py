"""``DramatiqDispatcher``: the engine's dispatch port, as Dramatiq messages."""

from __future__ import annotations

from typing import Any

import dramatiq

from wfcore import InvocationRef
from wfcore.errors import ConfigurationError
from wfcore_dramatiq._middleware import OPTION

__all__ = ["DramatiqDispatcher", "ref_from_options"]

_MAX_DELAY_MS = 15 * 60 * 1000


class DramatiqDispatcher:
    """Sends one message per run or wake-up of an invocation; the message holds only ids."""

    def __init__(self, broker: dramatiq.Broker) -> None:
        self._broker = broker

    def enqueue(self, ref: InvocationRef) -> None:
        """Send a message that runs (or resumes) ``ref`` now."""
        self._send(ref, None)

    def wake(self, ref: InvocationRef, delay: float) -> None:
        """Send a message that resumes ``ref`` after ``delay`` seconds (at most 15 min a hop)."""
        self._send(ref, min(_MAX_DELAY_MS, max(0, int(delay * 1000))))

    def _send(self, ref: InvocationRef, delay: int | None) -> None:
        try:
            actor = self._broker.get_actor(ref.task_name)
        except dramatiq.errors.ActorNotFound as exc:
            raise ConfigurationError(
                f"no actor named {ref.task_name!r} on this broker; every process that sends or "
                "runs workflows must import the module declaring the task"
            ) from exc
        target = {"workflow_id": ref.workflow_id, "invocation_id": ref.invocation_id}
        options: dict[str, Any] = {OPTION: target}
        actor.send_with_options(args=(), kwargs={}, delay=delay, **options)


def ref_from_options(options: dict[str, object], task_name: str) -> InvocationRef | None:
    """The invocation a message runs, or None for a message wfcore did not send."""
    data = options.get(OPTION)
    if not isinstance(data, dict):
        return None
    workflow_id, invocation_id = data.get("workflow_id"), data.get("invocation_id")
    if not isinstance(workflow_id, str) or not isinstance(invocation_id, str):
        return None
    return InvocationRef(workflow_id, invocation_id, task_name)
