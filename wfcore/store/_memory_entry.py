"""One workflow as a ``MemoryStore`` holds it, and the changes a repair (resume) makes to it."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from wfcore._models import InvocationRecord, Reopen, WorkflowRecord, WorkflowStatus

__all__ = ["WorkflowEntry"]


@dataclass(slots=True)
class WorkflowEntry:
    """Everything a MemoryStore keeps of one workflow."""

    record: WorkflowRecord
    invocations: dict[str, InvocationRecord] = field(default_factory=dict)
    histories: dict[str, list[bytes]] = field(default_factory=dict)
    outcomes: dict[str, dict[int, bytes]] = field(default_factory=dict)
    data: dict[str, bytes] = field(default_factory=dict)
    # Per suspended invocation, the awaited seqs whose outcome is still missing: each outcome
    # is O(1), and the one that empties the set wakes the invocation.
    missing: dict[str, set[int]] = field(default_factory=dict)
    # ... and how many of them may stay missing when it wakes (Batch.suspend_need).
    slack: dict[str, int] = field(default_factory=dict)
    # Signals by name: buffered payloads (oldest first), waits registered (invocation, seq)
    # in the order they were, and the ids of every signal accepted with one.
    signals: dict[str, deque[bytes]] = field(default_factory=dict)
    waiters: dict[str, deque[tuple[str, int]]] = field(default_factory=dict)
    signal_ids: set[str] = field(default_factory=set)
    expires_at: float | None = None
    # Per invocation, its history epoch (0 if absent): bumped when a resume rewrites it.
    epochs: dict[str, int] = field(default_factory=dict)

    def hand_over(self, root_invocation_id: str) -> None:
        """Continue the workflow as new: ``root_invocation_id`` is its root, PENDING."""
        self.record = self.record.model_copy(
            update={
                "root_invocation_id": root_invocation_id,
                "status": WorkflowStatus.PENDING,
                "updated_at": time.time(),
            }
        )

    def reopen(self, changes: Sequence[Reopen], now: float) -> None:
        """Apply a resume's changes (checked by the caller): histories rewritten and
        extended, outcomes forgotten, the invocations and the workflow PENDING again."""
        for change in changes:
            history = self.histories[change.invocation_id]
            self.epochs[change.invocation_id] = self.epochs.get(change.invocation_id, 0) + 1
            for position, data in change.rewrite.items():
                history[position] = data
            history.extend(change.append)
            outcomes = self.outcomes[change.invocation_id]
            for seq in change.forget:
                outcomes.pop(seq, None)
            self.missing.pop(change.invocation_id, None)
            self.slack.pop(change.invocation_id, None)
            invocation = self.invocations[change.invocation_id]
            self.invocations[change.invocation_id] = invocation.model_copy(
                update={
                    "status": WorkflowStatus.PENDING,
                    "outcome": None,
                    "waiting": (),
                    "updated_at": now,
                }
            )
        self.record = self.record.model_copy(
            update={
                "status": WorkflowStatus.PENDING,
                "cancel_requested": False,
                "updated_at": now,
            }
        )
        self.expires_at = None
