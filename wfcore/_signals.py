"""Sending a signal, shared by clients (``Engine.signal``) and workflows
(``wf.signal_workflow``): checks, encoding, the store's atomic accept-and-record, the wake.

A signal is stored as the outcome its wait will read (``[status, value]``, as a child's
outcome): ``RECEIVED`` with the payload. A wait that ends otherwise records ``TIMED_OUT``
(with the time it timed out) or ``CLOSED`` (cancelled) at its position, first writer wins
against the signal, so a signal that comes later finds that wait over and stays buffered.
"""

from __future__ import annotations

from typing import Any

from wfcore._codec import Codec
from wfcore._dispatch import Dispatcher
from wfcore._history import encode_outcome
from wfcore._models import SignalResult, WorkflowStatus
from wfcore.errors import (
    ConfigurationError,
    WfError,
    WorkflowNotFoundError,
    WorkflowNotRunningError,
)
from wfcore.store import StateStore

__all__ = ["CLOSED", "RECEIVED", "TIMED_OUT", "check_name", "refusal", "send"]

RECEIVED = WorkflowStatus.COMPLETED
TIMED_OUT = WorkflowStatus.FAILED
CLOSED = WorkflowStatus.CANCELLED


def check_name(op: str, name: object, what: str = "signal name") -> None:
    """Refuse a signal name (or workflow id, ``what``) that is not a non-empty str."""
    if not isinstance(name, str) or not name:
        raise ConfigurationError(
            f"{op} needs a non-empty str {what}, got {type(name).__name__} {name!r:.40}"
        )


def send(
    store: StateStore,
    codec: Codec,
    dispatcher: Dispatcher,
    workflow_id: str,
    name: str,
    payload: Any,
    signal_id: str | None,
    op: str = "signal",
) -> SignalResult:
    """Encode ``payload`` (``EncodeError`` before anything is stored), have the store accept
    it, and enqueue the waiter it woke, if any (the store decided: exactly one sender).

    A crash between the store's write and the enqueue leaves the waiter PENDING with no
    message: the recovery sweep sends it.
    """
    check_name(op, workflow_id, "workflow id")
    check_name(op, name)
    if signal_id is not None:
        check_name(op, signal_id, "signal_id (or None)")
    data = encode_outcome(codec, RECEIVED, payload, f"payload of signal {name!r}")
    result = store.send_signal(workflow_id, name, data, signal_id=signal_id)
    if result.wake and result.waiter is not None:
        dispatcher.enqueue(result.waiter)
    return result


def refusal(workflow_id: str, name: str, status: WorkflowStatus | None) -> WfError:
    """The error for a signal ``name`` refused by workflow ``workflow_id`` in ``status``."""
    if status is None:
        return WorkflowNotFoundError(
            f"cannot signal {name!r} to workflow {workflow_id!r}: there is no such workflow "
            "in the store; check the id (and the store URL and prefix), or it finished and "
            "its retention has passed"
        )
    return WorkflowNotRunningError(
        f"cannot signal {name!r} to workflow {workflow_id!r}: it is {status.value}, and a "
        "finished workflow takes no signals; start a new one to act on it",
        workflow_id=workflow_id,
        status=status.value,
    )
