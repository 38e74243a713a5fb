"""The state of one invocation's run and how it records and commits operations.

The base of :class:`~wfcore.context.WorkflowContext`: every other part of the context
(replay bookkeeping, cancellation, values, timers, steps, data, children) builds on it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, TypeVar

from wfcore._history import (
    Entry,
    Kind,
    Outcome,
    decode_entry,
    decode_outcome,
    describe,
    encode_entry,
    encode_lifecycle,
    is_operation,
)
from wfcore._history_cache import SHAREABLE, HeldHistory
from wfcore._models import (
    Batch,
    CommitResult,
    InvocationRecord,
    InvocationRef,
    QueuePush,
    Snapshot,
    WorkflowIdentity,
    WorkflowRecord,
)
from wfcore.context.runtime import Runtime, _Conflict

__all__ = ["Recording"]

T = TypeVar("T")


class Recording:
    """One invocation's run: its records, its recorded history, and what the next commit
    writes (buffered entries, data, new children, messages to send after it)."""

    def __init__(
        self,
        runtime: Runtime,
        snapshot: Snapshot,
        *,
        strict: bool = False,
        held: HeldHistory | None = None,
    ) -> None:
        self._rt = runtime
        self._codec = runtime.codec
        self._strict = strict
        self._workflow_record: WorkflowRecord = snapshot.workflow
        self._invocation: InvocationRecord = snapshot.invocation
        raw = snapshot.entries
        # Lifecycle events live in the same list but take no seq: replay sees operations only.
        # A history the engine holds (``held``: snapshot.entries are its entries) has them
        # apart already, and keeps the entries replays decode for the next run.
        self._entries: list[bytes]
        self._shared: list[Entry | None]  # per seq, its entry decoded once (shareable)
        self._results: dict[int, tuple[bytes, Outcome]]  # per seq, its outcome decoded
        self._finished: dict[int, tuple[object, bytes, Any]]  # execute_task's fast path
        if held is not None:
            self._entries = held.operations
            self._shared = held.decoded
            self._results = held.results
            self._finished = held.finished
            # Decoded entries are kept from a history's second replay on: one replayed once
            # only (a short wait) does not pay for keeping them (B1's replay measures that).
            self._share = held.replayed
            held.replayed = held.replayed or bool(held.operations)
        else:
            self._entries = [e for e in raw if is_operation(e)] if raw else raw
            self._shared = [None] * len(self._entries)
            self._results = {}
            self._finished = {}
            self._share = False
        self._recorded = len(self._entries)  # operations recorded before this run
        # Entries this run committed, in order (what the engine adds to a held history).
        self._written: list[bytes] = []
        self._outcomes = snapshot.outcomes
        self._seq = 0
        self._base = len(snapshot.entries)
        self._buffer: list[bytes] = []
        self._decoded: Entry | None = None  # the last entry _entry_at decoded
        self._data: dict[str, bytes] = {}  # set_data values for the next commit
        self._new_children: list[InvocationRecord] = []
        self._to_dispatch: list[InvocationRef] = []
        self._lifecycle("task_resumed" if raw else "task_started", None)
        self._last_now: datetime | None = None
        self._fired_at = 0.0  # the latest fire time a sleep returned at since (see Timers)
        self._seed: bytes | None = None  # the PRNG key, made by the first draw that needs it
        self._fatal: BaseException | None = None
        # When the code first went past the recorded operations (perf_counter), for observers.
        self._caught_up: float | None = None
        self._where = (
            f"invocation {snapshot.invocation.invocation_id!r} "
            f"(task {snapshot.invocation.task_name!r}) of workflow "
            f"{snapshot.workflow.workflow_id!r}"
        )
        self._patches: dict[str, bool] = {}
        # Children started by cleanup code after a cancellation are shielded from it.
        self._cancel_pending = (
            snapshot.workflow.cancel_requested and not snapshot.invocation.cancel_shielded
        )
        self._cancel_delivered = False
        self._logger: logging.LoggerAdapter[logging.Logger] | None = None
        # An async body's deterministic loop (see .awaiting), or a plain async task's stand-in
        # that refuses waits; None in a sync task.
        self._aio: Any = None
        self.workflow: WorkflowIdentity = snapshot.workflow.identity

    # -- identity ------------------------------------------------------------------------

    @property
    def invocation_id(self) -> str:
        """This invocation's id."""
        return self._invocation.invocation_id

    @property
    def task_name(self) -> str:
        """The running task's name."""
        return self._invocation.task_name

    @property
    def attempt(self) -> int:
        """How many times this invocation has been started (1 on the first run)."""
        return self._invocation.attempts

    def log_extra(self) -> dict[str, Any]:
        """The ``extra`` fields wfcore puts on log records about this invocation."""
        return {
            "workflow_id": self.workflow.workflow_id,
            "invocation_id": self.invocation_id,
            "task": self.task_name,
            "seq": self._seq,
            "attempt": self.attempt,
        }

    # -- recording and committing ------------------------------------------------------

    def _check(self) -> None:
        if self._fatal is not None:
            raise self._fatal

    def _entry_at(self, seq: int) -> Entry:
        """The recorded entry at ``seq``, decoded once: kept with the history when its value
        can be handed out again (``shareable``), else for the next look at it (``wait``
        looks at the entry the next operation then replays)."""
        shared = self._shared[seq]
        if shared is not None:
            return shared
        cached = self._decoded
        if cached is None or cached.seq != seq:
            cached = decode_entry(self._codec, seq, self._entries[seq], self._where)
            if self._share and (type(cached.value) in SHAREABLE or cached.kind == Kind.START_TASK):
                self._shared[seq] = cached
            else:
                self._decoded = cached
        return cached

    def _outcome_at(self, seq: int, where: str) -> Outcome:
        """The outcome recorded at ``seq``, decoded; kept with the history when its value
        can be handed out again."""
        data = self._outcomes[seq]
        known = self._results.get(seq)
        if known is not None and known[0] is data:
            return known[1]
        outcome = decode_outcome(self._rt.codec, data, where)
        if type(outcome.value) in SHAREABLE:
            self._results[seq] = (data, outcome)
        return outcome

    def _lifecycle(self, kind: str, detail: Any) -> None:
        """Add a lifecycle event to the next commit (it takes no seq)."""
        codec = self._rt.codec
        self._buffer.append(encode_lifecycle(codec, kind, detail, self._invocation.attempts))

    def _record(self, kind: str, name: str, value: T) -> T:
        # Buffered: written with the next boundary, before anyone else can observe it.
        self._buffer.append(
            encode_entry(self._rt.codec, kind, name, True, value, describe(kind, name))
        )
        self._seq += 1
        return value

    def _append(self, data: bytes) -> None:
        self._buffer.append(data)
        self._seq += 1

    def _flush(self, **changes: Any) -> CommitResult:
        """Commit now (a boundary); another writer having won aborts this run to replay."""
        result = self._commit(**changes)
        if not result.ok:
            self._fatal = _Conflict()
            raise self._fatal
        return result

    def _commit(self, **changes: Any) -> CommitResult:
        """Write buffered entries and new children (plus ``changes``) in one atomic commit,
        then send the children it recorded. Nothing is sent if another writer won."""
        outbox = self._rt.outbox
        pushes: tuple[QueuePush, ...] = ()
        if outbox is not None and self._to_dispatch:
            pushes = tuple(outbox.prepare(ref) for ref in self._to_dispatch)
        batch = Batch(
            self._base,
            self._buffer,
            self._data,
            children=self._new_children,
            pushes=pushes,
            **changes,
        )
        result = self._rt.store.commit(self.workflow.workflow_id, self.invocation_id, batch)
        if not result.ok:
            return result
        self._data = {}
        to_dispatch, self._to_dispatch = self._to_dispatch, []
        if result.cancel_requested and not (
            self._cancel_delivered or self._invocation.cancel_shielded
        ):
            # Child workflows started here were born cancelled (the store copies the flag).
            self._cancel_pending = True
        self._base += len(self._buffer)
        self._written += self._buffer
        self._buffer = []
        self._new_children = []
        if result.acked and outbox is not None and batch.receipt is not None:
            outbox.acknowledged(batch.receipt)
        if result.pushed and outbox is not None:
            for push in pushes:
                outbox.pushed(push)
        else:
            for ref in to_dispatch:
                self._rt.dispatcher.enqueue(ref)
        return result
