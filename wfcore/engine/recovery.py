"""Recovery: heartbeats of running invocations, and sweeps that re-send lost work."""

from __future__ import annotations

from wfcore._history import Kind, decode_entry, is_operation
from wfcore._models import InvocationRecord, InvocationRef, WorkflowStatus
from wfcore.engine.base import log
from wfcore.engine.outcomes import Outcomes

__all__ = ["Recovery"]

# Waits whose entry value is a fire time (None: no timeout): due ones can go on.
_TIMED = frozenset({Kind.SLEEP, Kind.WAIT_SIGNAL})


class Recovery(Outcomes):
    """Re-enqueues invocations whose message or worker was lost (``heartbeat``, which keeps
    live runs fresh, is in :mod:`.heartbeats`)."""

    def hold(self, ref: InvocationRef, *, until: float) -> None:
        """Keep recovery sweeps off a running invocation until ``until`` (plus their
        ``stale_after``): its queue will deliver its next attempt by then."""
        self.store.heartbeat([ref], until)

    def recover(self, *, stale_after: float = 60.0, limit: int = 500) -> list[InvocationRef]:
        """Re-enqueue invocations that should be running but have no live message.

        Claims (store-atomically, so many workers may sweep at once) the unfinished
        invocations not updated for ``stale_after`` seconds and sends a message for each
        that can make progress: pending or running ones (their message was lost, or their
        worker died; a signal's sender that died before waking its waiter left it PENDING),
        and suspended ones whose awaited outcomes are all there or whose timer (a sleep's,
        a signal wait's timeout) is due (a lost wake-up). Duplicates are harmless: every run
        is a replay and the store keeps the first writer.

        Returns:
            The invocations re-enqueued.
        """
        now = self.clock()
        claimed = self.store.recover_candidates(older_than=now - stale_after, now=now, limit=limit)
        woken = [inv.ref for inv in claimed if self._can_progress(inv, now)]
        for ref in woken:
            self.dispatcher.enqueue(ref)
        if woken:
            log.warning("recovery sweep re-enqueued %d invocation(s)", len(woken))
            if self.observer is not None:
                self.observer.recovered(woken)
        return woken

    def _can_progress(self, inv: InvocationRecord, now: float) -> bool:
        if inv.status is WorkflowStatus.PENDING:
            return inv.created_at <= now  # a delayed start is not due before its time
        if inv.status is not WorkflowStatus.SUSPENDED:
            return True
        snap = self.store.load(inv.workflow_id, inv.invocation_id, claim=False)
        if snap is None or snap.invocation.status is not WorkflowStatus.SUSPENDED:
            return False
        workflow = snap.workflow
        if workflow.cancel_requested or (
            workflow.deadline is not None and now >= workflow.deadline
        ):
            return True
        where = f"invocation {inv.invocation_id!r}"
        operations = [e for e in snap.entries if is_operation(e)]
        can_run = True
        for seq in snap.invocation.waiting:
            if seq in snap.outcomes:
                continue
            if seq >= len(operations):
                return False
            entry = decode_entry(self.codec, seq, operations[seq], where)
            if entry.kind == Kind.START_TASK:
                # A child that finished but died before telling its parent: tell it now.
                # Recording the outcome wakes the parent if it was the last one missing.
                child_invocation, child_workflow = entry.value[0], entry.value[1]
                child = self.store.get_invocation(child_workflow, child_invocation)
                if child is not None and child.status.finished and child.outcome is not None:
                    self._notify_parent(child, child.outcome)
                can_run = False
            elif entry.kind in _TIMED and entry.value is not None and float(entry.value) <= now:
                # A due timer: its wait can end (an async body waiting on several things at
                # once goes on as soon as one of them can).
                return True
            else:
                can_run = False  # a signal wait without a due timeout: its sender wakes it
        return can_run
