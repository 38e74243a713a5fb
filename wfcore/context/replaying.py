"""Replay bookkeeping: each operation checked against the recorded history, divergences
reported, and ``wf.patched`` versioning."""

from __future__ import annotations

from wfcore._history import Entry, Kind, describe
from wfcore.context.cancellation import Cancellation
from wfcore.errors import ConfigurationError, NonDeterminismError

__all__ = ["Replaying"]


class Replaying(Cancellation):
    """Matches the run's operations against its history, position by position."""

    @property
    def is_replaying(self) -> bool:
        """True while the code re-executes operations already in the history."""
        return self._seq < len(self._entries)

    def patched(self, change_id: str) -> bool:
        """True on executions that may take the new branch of a code change.

        New executions record a marker and return True; replays of histories recorded before
        the change (no marker at this position) return False, so they keep the old branch.
        """
        if not isinstance(change_id, str) or not change_id:
            raise ConfigurationError(
                f"wf.patched needs a non-empty str change id, got {change_id!r}"
            )
        known = self._patches.get(change_id)
        if known is not None:
            return known
        self._check()
        seq = self._seq
        if seq < len(self._entries):
            entry = self._entry_at(seq)
            applied = entry.kind == Kind.PATCHED and entry.name == change_id
            if applied:
                self._seq = seq + 1
        else:
            if self._strict:
                self._beyond_history(describe(Kind.PATCHED, change_id))
            self._record(Kind.PATCHED, change_id, True)
            applied = True
        self._patches[change_id] = applied
        return applied

    def _replay(self, kind: str, name: str) -> Entry | None:
        """The recorded entry at the next position if there is one; it must match."""
        if self._fatal is not None:
            raise self._fatal
        seq = self._seq
        if seq >= len(self._entries):
            if self._strict:
                self._beyond_history(describe(kind, name))
            if self._cancel_pending:
                self._deliver_cancel(record=True)
            return None
        entry = self._entry_at(seq)
        if entry.kind != kind or entry.name != name:
            if entry.kind == Kind.CANCELLED:
                self._seq = seq + 1
                self._deliver_cancel(record=False)
            self._diverged(seq, entry, describe(kind, name))
        self._seq = seq + 1
        return entry

    def _diverged(self, seq: int, entry: Entry, attempted: str) -> None:
        recorded = entry.describe()
        self._fatal = NonDeterminismError(
            f"{self._where}: seq {seq} recorded `{recorded}`, the code now calls `{attempted}`; "
            "the workflow code changed in a way that breaks running workflows. Guard the change "
            "with wf.patched(...) or keep the old code until they finish",
            workflow_id=self.workflow.workflow_id,
            invocation_id=self.invocation_id,
            seq=seq,
            recorded=recorded,
            attempted=attempted,
        )
        raise self._fatal

    def _beyond_history(self, attempted: str) -> None:
        """Strict replay: the code calls an operation the history never recorded."""
        seq = self._seq
        self._fatal = NonDeterminismError(
            f"{self._where}: the history ends at seq {seq}, the code now calls `{attempted}` "
            "there; the workflow code changed. Guard the change with wf.patched(...)",
            workflow_id=self.workflow.workflow_id,
            invocation_id=self.invocation_id,
            seq=seq,
            recorded="end of history",
            attempted=attempted,
        )
        raise self._fatal

    def _leftover(self) -> NonDeterminismError | None:
        """Recorded operations the code no longer reached (deleted or reordered away)."""
        if self._seq >= len(self._entries):
            return None
        entry = self._entry_at(self._seq)
        return NonDeterminismError(
            f"{self._where}: the code finished at seq {self._seq} but the history records "
            f"`{entry.describe()}` there ({len(self._entries)} operations in all); operations "
            "were removed from the workflow code. Guard the change with wf.patched(...) or keep "
            "the old code until running workflows finish",
            workflow_id=self.workflow.workflow_id,
            invocation_id=self.invocation_id,
            seq=self._seq,
            recorded=entry.describe(),
            attempted="end of code",
        )
