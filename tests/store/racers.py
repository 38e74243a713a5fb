"""Functions run in other processes (or threads) to race on one store at one instant."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tests.store.records import workflow
from wfcore._models import Batch, Finish, ParentOutcome, WorkflowStatus
from wfcore.store import StateStore, open_store

T = TypeVar("T")


def _at(url: str, start_at: float, op: Callable[[StateStore], T]) -> T:
    # Connect first, then wait for the common start instant so the racers really collide.
    store = open_store(url)
    try:
        store.ping()
        time.sleep(max(0.0, start_at - time.time()))
        return op(store)
    finally:
        store.close()


def create(url: str, start_at: float, workflow_id: str) -> bool:
    """Try to create ``workflow_id``; True if this caller created it."""
    record, root = workflow(workflow_id)
    return _at(url, start_at, lambda s: s.create_workflow(record, root)[1])


def append(url: str, start_at: float, workflow_id: str, invocation_id: str, payload: bytes) -> bool:
    """Try to write ``payload`` at seq 0; True if this caller won."""
    return _at(
        url, start_at, lambda s: s.commit(workflow_id, invocation_id, Batch(0, [payload])).ok
    )


def record(url: str, start_at: float, workflow_id: str, invocation_id: str, seq: int) -> bool:
    """Record an outcome at ``seq``; True if this caller must wake the parent."""
    out = f"out-{seq}".encode()
    return _at(url, start_at, lambda s: s.record_outcome(workflow_id, invocation_id, seq, out).wake)


def finish_telling(
    url: str, start_at: float, workflow_id: str, invocation_id: str, parent: str, seq: int
) -> bool:
    """Commit a child's finish that records its outcome at ``seq`` in ``parent``; True if
    this caller must wake the parent."""
    finish = Finish(WorkflowStatus.COMPLETED, f"out-{seq}".encode())
    batch = Batch(0, finish=finish, parent=ParentOutcome(parent, seq))

    def op(s: StateStore) -> bool:
        told = s.commit(workflow_id, invocation_id, batch).parent
        return told is not None and told.wake

    return _at(url, start_at, op)


def recover(url: str, start_at: float, older_than: float, now: float) -> list[tuple[str, str]]:
    """Sweep for stale invocations; the (workflow id, invocation id) of each one claimed."""
    return _at(
        url,
        start_at,
        lambda s: [
            (r.workflow_id, r.invocation_id)
            for r in s.recover_candidates(older_than=older_than, now=now)
        ],
    )


def reopen(url: str, start_at: float, workflow_id: str, invocation_id: str, length: int) -> bool:
    """Try to reopen a FAILED workflow's root holding ``length`` entries; True if this did."""
    from wfcore._models import Reopen

    change = Reopen(invocation_id, length, append=[b"resumed"])
    return _at(
        url,
        start_at,
        lambda s: s.reopen(workflow_id, [change], statuses={WorkflowStatus.FAILED}) is not None,
    )


def signal(
    url: str, start_at: float, workflow_id: str, payload: bytes, signal_id: str | None
) -> tuple[bool, bool, bool]:
    """Send a signal named "go"; (accepted, duplicate, wake) as this caller was told."""

    def op(s: StateStore) -> tuple[bool, bool, bool]:
        sent = s.send_signal(workflow_id, "go", payload, signal_id=signal_id)
        return sent.accepted, sent.duplicate, sent.wake

    return _at(url, start_at, op)
