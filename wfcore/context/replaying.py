"""Replay bookkeeping: each operation checked against the recorded history, divergences
reported, where the last run stopped (``wf.is_replaying``), and ``wf.patched`` versioning."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from time import perf_counter
from typing import Any

from wfcore._codec import Codec
from wfcore._history import Entry, Kind, decode_entry, describe, is_operation
from wfcore._history_cache import SHAREABLE, HeldHistory
from wfcore._models import Snapshot
from wfcore.context.cancellation import Cancellation
from wfcore.context.runtime import Runtime
from wfcore.errors import ConfigurationError, DecodeError, NonDeterminismError

__all__ = ["Replaying"]


class Replaying(Cancellation):
    """Matches the run's operations against its history, position by position."""

    def __init__(
        self,
        runtime: Runtime,
        snapshot: Snapshot,
        *,
        strict: bool = False,
        held: HeldHistory | None = None,
    ) -> None:
        super().__init__(runtime, snapshot, strict=strict, held=held)
        # Where the previous run stopped, if it suspended: at the wait on these seqs. Until
        # that wait returns again, the code re-executes what the previous run executed.
        self._suspended_on = None if strict else _suspension(runtime.codec, snapshot.entries)

    @property
    def is_replaying(self) -> bool:
        """True while the code re-executes what an earlier execution already executed.

        Always True in replay verification (strict mode). In a real run: True until the code
        has passed every recorded operation and, when the previous run suspended, until the
        wait it suspended at returns (or raises); False from there on, and on a first
        execution. Code that must not repeat (a side effect outside ``wf.deterministic``)
        can run only when it is False.
        """
        seq, recorded = self._seq, len(self._entries)
        if seq < recorded or self._strict:
            return True
        return seq == recorded and self._suspended_on is not None

    def log_extra(self) -> dict[str, Any]:
        """The ``extra`` fields wfcore puts on log records about this invocation."""
        extra = super().log_extra()
        extra["replaying"] = self.is_replaying
        return extra

    def patched(self, change_id: str) -> bool:
        """True on executions that may take the new branch of a code change.

        New executions record a marker and return True. Where the history has no marker, the
        code that recorded it did not take the branch, so replays return False and record
        nothing: before the end of the history, and past it wherever the recording code ran
        on (to the end of a finished invocation, which only verification replays, or to the
        wait a suspended one stopped at). Past that point a resumed run is new: True.
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
        elif self.is_replaying:
            applied = False  # the recording code ran here and did not take the branch
        else:
            self._record(Kind.PATCHED, change_id, True)
            applied = True
        self._patches[change_id] = applied
        return applied

    def _waited(self, seqs: Iterable[int]) -> None:
        """A wait on ``seqs`` returns: past the one the previous run stopped at, code is new."""
        stopped_at = self._suspended_on
        if stopped_at is not None and not stopped_at.isdisjoint(seqs):
            self._suspended_on = None

    def _replay(self, kind: str, name: str) -> Entry | None:
        """The recorded entry at the next position if there is one; it must match."""
        if self._fatal is not None:
            raise self._fatal
        seq = self._seq
        if seq >= self._recorded:
            if self._caught_up is None:
                self._caught_up = perf_counter()
            if self._strict:
                self._beyond_history(describe(kind, name))
            if self._cancel_pending:
                self._deliver_cancel(record=True)
            return None
        # _entry_at(seq), inlined: this runs for every replayed operation.
        entry = self._shared[seq]
        if entry is None:
            entry = self._decoded
            if entry is None or entry.seq != seq:
                entry = decode_entry(self._codec, seq, self._entries[seq], self._where)
                if self._share and (
                    type(entry.value) in SHAREABLE or entry.kind == Kind.START_TASK
                ):
                    self._shared[seq] = entry
                else:
                    self._decoded = entry
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


def _suspension(codec: Codec, entries: Sequence[bytes]) -> frozenset[int] | None:
    """The seqs the previous run waited on when it suspended, or None if it did not suspend.

    A suspension commits a ``task_suspended`` event last, and nothing is written to an
    invocation between its runs, so that event is then the last entry. Any earlier wait the
    run passed had all its outcomes, so only the wait it stopped at awaits these seqs.
    """
    last = entries[-1] if entries else b""
    if not last or is_operation(last):
        return None
    try:
        event = codec.decode(last, what="lifecycle event")
    except DecodeError:
        return None  # unreadable: the run goes on as a new execution from the history's end
    if type(event) is not list or len(event) != 4 or event[0] != "task_suspended":
        return None
    seqs = (
        frozenset(seq for seq in event[1] if type(seq) is int) if type(event[1]) is list else None
    )
    return seqs or None
