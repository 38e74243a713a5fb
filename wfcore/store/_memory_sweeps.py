"""``MemorySweeps``: the memory store's sweeps: recovery claims stale invocations,
heartbeats keep running ones fresh, purges delete finished workflows."""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from wfcore._models import InvocationRecord, InvocationRef, WorkflowStatus
from wfcore.store._memory_entry import WorkflowEntry

__all__ = ["MemorySweeps"]


class MemorySweeps:
    """``heartbeat``, ``recover_candidates`` and the purges of
    :class:`~wfcore.store.memory.MemoryStore`."""

    if TYPE_CHECKING:  # provided by MemoryStore
        _lock: threading.Lock
        _workflows: dict[str, WorkflowEntry]

        def _check_open(self) -> None: ...

    def heartbeat(self, refs: Sequence[InvocationRef], now: float) -> None:
        """Set ``updated_at`` to ``now`` for each of these invocations that is RUNNING,
        unless it is already later."""
        with self._lock:
            self._check_open()
            for ref in refs:
                entry = self._workflows.get(ref.workflow_id)
                inv = None if entry is None else entry.invocations.get(ref.invocation_id)
                if entry is None or inv is None or inv.status is not WorkflowStatus.RUNNING:
                    continue
                if inv.updated_at >= now:
                    continue
                entry.invocations[ref.invocation_id] = inv.model_copy(update={"updated_at": now})
                if ref.invocation_id == entry.record.root_invocation_id:
                    entry.record = entry.record.model_copy(update={"updated_at": now})

    def purge_expired(self, now: float) -> int:
        return self._purge(lambda w: w.expires_at is not None and w.expires_at <= now)

    def purge_finished(self, workflow_ids: Sequence[str], before: float) -> int:
        ids = set(workflow_ids)
        return self._purge(
            lambda w: (
                w.record.workflow_id in ids
                and w.record.status.finished
                and w.record.updated_at < before
            )
        )

    def _purge(self, doomed: Callable[[WorkflowEntry], bool]) -> int:
        with self._lock:
            self._check_open()
            expired = [wid for wid, w in self._workflows.items() if doomed(w)]
            for wid in expired:
                del self._workflows[wid]
            return len(expired)

    def recover_candidates(
        self, *, older_than: float, now: float, limit: int = 100
    ) -> list[InvocationRecord]:
        """Claim up to ``limit`` unfinished invocations not updated since ``older_than``.

        Oldest ``updated_at`` first (ties by workflow id, then invocation id); each returned
        one now has ``updated_at == now``, mirrored into its workflow when it is the root.
        """
        with self._lock:
            self._check_open()
            if limit <= 0:
                return []
            stale = heapq.nsmallest(
                limit,
                (
                    (inv.updated_at, wid, iid)
                    for wid, entry in self._workflows.items()
                    for iid, inv in entry.invocations.items()
                    if inv.updated_at <= older_than and not inv.status.finished
                ),
            )
            claimed = []
            for _, wid, iid in stale:
                entry = self._workflows[wid]
                invocation = entry.invocations[iid].model_copy(update={"updated_at": now})
                entry.invocations[iid] = invocation
                if iid == entry.record.root_invocation_id:
                    # The workflow's updated_at follows every write of its root invocation.
                    entry.record = entry.record.model_copy(update={"updated_at": now})
                claimed.append(invocation)
            return claimed
