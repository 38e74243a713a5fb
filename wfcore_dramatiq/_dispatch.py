"""``DramatiqDispatcher``: the engine's dispatch port, as Dramatiq messages."""

from __future__ import annotations

import time
from typing import Any

import dramatiq

from wfcore import InvocationRef
from wfcore.errors import ConfigurationError
from wfcore_dramatiq._middleware import OPTION

__all__ = [
    "RELAY_ACTOR",
    "DramatiqDispatcher",
    "hop",
    "invocation_message",
    "is_task_actor",
    "mark_task_actor",
    "ref_from_options",
    "remaining_delay",
]

_MAX_DELAY_MS = 15 * 60 * 1000
_NOT_BEFORE = "not_before"
_TASK_MARK = "_wfcore_task"

RELAY_ACTOR = "wfcore_actor_relay"
"""The App's actor that sends a plain actor recorded as a child its message (with its
arguments, read from the child's record)."""


def mark_task_actor(fn: Any) -> None:
    """Mark the function of a workflow task's actor (``is_task_actor`` tells them apart)."""
    setattr(fn, _TASK_MARK, True)


def is_task_actor(actor: dramatiq.Actor[..., Any]) -> bool:
    """Whether ``actor`` runs a workflow task (else it is a plain Dramatiq actor)."""
    return getattr(actor.fn, _TASK_MARK, False) is True


class DramatiqDispatcher:
    """Sends one message per run or wake-up of an invocation; the message holds only ids."""

    def __init__(self, broker: dramatiq.Broker) -> None:
        self._broker = broker

    def enqueue(self, ref: InvocationRef) -> None:
        """Send a message that runs (or resumes) ``ref`` now."""
        self._send(ref, None)

    def wake(self, ref: InvocationRef, delay: float) -> None:
        """Send a message that resumes ``ref`` after ``delay`` seconds.

        A broker holds it for at most 15 minutes (one hop); a longer delay is carried as a
        ``not_before`` time that the receiving worker honours by re-delaying the message.
        """
        self._send(ref, *hop(delay))

    def _send(self, ref: InvocationRef, delay: int | None, not_before: float | None = None) -> None:
        self._broker.enqueue(invocation_message(self._broker, ref, not_before), delay=delay)


def hop(delay: float) -> tuple[int, float | None]:
    """A wake-up's broker delay in ms, at most one 15-minute hop, and for a longer ``delay``
    the ``not_before`` time the receiving worker honours by re-delaying the message."""
    delay_ms = max(0, int(delay * 1000))
    not_before = time.time() + delay if delay_ms > _MAX_DELAY_MS else None
    return min(_MAX_DELAY_MS, delay_ms), not_before


def invocation_message(
    broker: dramatiq.Broker,
    ref: InvocationRef,
    not_before: float | None = None,
    **options: Any,
) -> dramatiq.Message[Any]:
    """The message that runs (or resumes) ``ref``: no arguments, only ids in its option
    (plus ``options``, for the broker); for a plain actor's child, the relay's message."""
    try:
        actor = broker.get_actor(ref.task_name)
    except dramatiq.errors.ActorNotFound as exc:
        raise ConfigurationError(
            f"no actor named {ref.task_name!r} on this broker; every process that sends or "
            "runs workflows must import the module declaring the task"
        ) from exc
    target: dict[str, Any] = {"workflow_id": ref.workflow_id, "invocation_id": ref.invocation_id}
    if not_before is not None:
        target[_NOT_BEFORE] = not_before
    options[OPTION] = target
    if not is_task_actor(actor):
        # A plain actor recorded as a child: the relay, on the actor's queue, sends it its
        # message with the arguments from the child's record.
        return dramatiq.Message(
            queue_name=actor.queue_name,
            actor_name=RELAY_ACTOR,
            args=(ref.workflow_id, ref.invocation_id),
            kwargs={},
            options=options,
        )
    return actor.message_with_options(args=(), kwargs={}, **options)


def ref_from_options(options: dict[str, object], task_name: str) -> InvocationRef | None:
    """The invocation a message runs, or None for a message wfcore did not send."""
    data = options.get(OPTION)
    if not isinstance(data, dict):
        return None
    workflow_id, invocation_id = data.get("workflow_id"), data.get("invocation_id")
    if not isinstance(workflow_id, str) or not isinstance(invocation_id, str):
        return None
    return InvocationRef(workflow_id, invocation_id, task_name)


def remaining_delay(options: dict[str, object]) -> float:
    """Seconds a message sent by ``wake`` must still wait (its next hop), 0 when it may run."""
    data = options.get(OPTION)
    not_before = data.get(_NOT_BEFORE) if isinstance(data, dict) else None
    if not isinstance(not_before, int | float):
        return 0.0
    return max(0.0, not_before - time.time())
