"""Records kept in a state store and the small values passed between engine and store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Batch",
    "CommitResult",
    "Finish",
    "InvocationRecord",
    "InvocationRef",
    "OutcomeResult",
    "ParentOutcome",
    "QueuePush",
    "QueueReceipt",
    "Reopen",
    "SignalResult",
    "SignalTake",
    "Snapshot",
    "WorkflowIdentity",
    "WorkflowRecord",
    "WorkflowStatus",
]


class WorkflowStatus(StrEnum):
    """Lifecycle state of a workflow (and of each invocation in it)."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUSPENDED = "SUSPENDED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def finished(self) -> bool:
        """True for the terminal states."""
        return self in _TERMINAL


_TERMINAL = frozenset({WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.CANCELLED})


@dataclass(frozen=True, slots=True)
class WorkflowIdentity:
    """Who a workflow is and where it sits in its tree."""

    workflow_id: str
    workflow_type: str
    parent_workflow_id: str | None
    root_workflow_id: str


@dataclass(frozen=True, slots=True)
class InvocationRef:
    """Enough to find one invocation: what a queue message carries."""

    workflow_id: str
    invocation_id: str
    task_name: str


_RECORD = ConfigDict(frozen=True, extra="forbid")


class WorkflowRecord(BaseModel):
    """One workflow as stored. ``status`` mirrors the status of its root invocation.

    ``seed`` is the workflow's secret PRNG seed, drawn from :mod:`secrets` at creation: its
    ``wf.random``/``wf.uuid`` values derive from it. None marks a workflow recorded before
    seeds existed (its values use the old, id-derived scheme). A secret: left out of
    ``repr`` and of ``model_dump`` (so of the CLI's output and of exported histories).
    """

    model_config = _RECORD

    workflow_id: str
    workflow_type: str
    parent_workflow_id: str | None = None
    root_workflow_id: str
    root_invocation_id: str
    parent_invocation_id: str | None = None
    status: WorkflowStatus = WorkflowStatus.PENDING
    created_at: float
    updated_at: float
    cancel_requested: bool = False
    idempotency_key: str | None = None
    deadline: float | None = None
    # 16 bytes (128 bits) at least; 64 at most, the longest key blake2b takes.
    seed: bytes | None = Field(default=None, min_length=16, max_length=64, exclude=True, repr=False)
    forked_from: str | None = None

    @property
    def identity(self) -> WorkflowIdentity:
        """The workflow's identity as user code sees it."""
        return WorkflowIdentity(
            self.workflow_id, self.workflow_type, self.parent_workflow_id, self.root_workflow_id
        )


class InvocationRecord(BaseModel):
    """One invocation as stored. ``args`` and ``outcome`` are codec-encoded bytes."""

    model_config = _RECORD

    invocation_id: str
    workflow_id: str
    task_name: str
    args: bytes
    parent_workflow_id: str | None = None
    parent_invocation_id: str | None = None
    parent_seq: int | None = None
    parent_task_name: str | None = None
    cancel_shielded: bool = False
    status: WorkflowStatus = WorkflowStatus.PENDING
    waiting: tuple[int, ...] = ()
    outcome: bytes | None = None
    attempts: int = 0
    created_at: float
    updated_at: float

    @property
    def ref(self) -> InvocationRef:
        """The reference a queue message carries for this invocation."""
        return InvocationRef(self.workflow_id, self.invocation_id, self.task_name)

    @property
    def parent_ref(self) -> InvocationRef | None:
        """The reference of the invocation that started this one, if any."""
        if self.parent_invocation_id is None or self.parent_workflow_id is None:
            return None
        return InvocationRef(
            self.parent_workflow_id, self.parent_invocation_id, self.parent_task_name or ""
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one execution of an invocation needs, read in one round trip."""

    workflow: WorkflowRecord
    invocation: InvocationRecord
    entries: list[bytes]
    outcomes: dict[int, bytes]


@dataclass(frozen=True, slots=True)
class Finish:
    """Terminal transition of an invocation: its status and encoded outcome."""

    status: WorkflowStatus
    outcome: bytes


@dataclass(frozen=True, slots=True)
class ParentOutcome:
    """The parent invocation, in the same workflow, that awaits a finishing one at ``seq``."""

    invocation_id: str
    seq: int


@dataclass(frozen=True, slots=True)
class QueuePush:
    """A broker message a commit writes with its batch, on the store's own server.

    Written as ``HSET messages message_id data`` then ``RPUSH queue message_id`` (the layout
    of Dramatiq's Redis broker), in the same atomic write as the batch: the message leaves
    exactly when the state it acts on is stored. ``handle`` is the sender's own, for its
    after-send bookkeeping; stores ignore it.
    """

    queue: str
    messages: str
    message_id: str
    data: bytes
    handle: object = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class QueueReceipt:
    """The delivery of the broker message running an invocation, acknowledged by the write
    that ends its run (``Batch.receipt``), on the store's own server.

    Written as ``SREM acks message_id`` and, if that removed it, ``HDEL messages
    message_id`` (what Dramatiq's Redis broker does on ack), in the same atomic write as the
    batch, and only when the batch suspends the invocation (not ``ready``) or finishes it and
    the workflow's cancel flag is not set (so every message the batch asked to write was
    written). The engine names a receipt only where nothing of the run is left for a
    redelivery to do after such a write. ``CommitResult.acked`` says whether it was.
    """

    acks: str
    messages: str
    message_id: str


@dataclass(frozen=True, slots=True)
class SignalTake:
    """A ``wait_signal``/``poll_signal`` at ``seq`` of the committing invocation.

    The commit moves the first signal buffered under ``name`` (for the workflow) into the
    invocation's outcome at ``seq``; when none is buffered and ``wait`` is set, it registers
    the invocation as waiting for ``name`` at ``seq``, so the next ``send_signal`` of that
    name records itself there (and wakes it) instead of being buffered.
    """

    name: str
    seq: int
    wait: bool


@dataclass(frozen=True, slots=True)
class Batch:
    """One atomic write of an invocation's progress.

    Written only if the invocation's history holds exactly ``base_seq`` entries (first writer
    wins); then ``entries`` are appended, ``data`` is written into the workflow's data,
    ``children`` are created if absent, and at most one of ``suspend`` (the seqs waited on) or
    ``finish`` is applied. With ``finish``, ``parent`` also records the outcome in that parent
    exactly as ``record_outcome`` would, in the same atomic write (one round trip less).

    Only a store that ``writes_pushes`` accepts ``pushes`` (the messages that run the new
    children), ``parent_push`` (the message that wakes ``parent``) and ``suspend_push`` (a
    timer's delayed wake-up): ``pushes`` are written with the batch unless the workflow's
    cancel flag is set, ``parent_push`` only when the recorded outcome wakes the parent,
    ``suspend_push`` only when the suspension is applied (not ``ready``; see
    :class:`CommitResult`). Such a store also takes ``receipt``, the delivery this batch
    acknowledges when it ends the run (see :class:`QueueReceipt`).

    ``signal`` takes a buffered signal (or registers a wait for one) after the entries are
    appended and before ``suspend`` is looked at (see :class:`SignalTake`).

    ``suspend`` seqs are distinct. ``suspend_need`` (None: all of them) is how many of them
    must get an outcome before the invocation wakes: with ``k`` already there at commit time,
    the suspension is ``ready`` if ``k >= need``, else the ``need - k``-th outcome recorded
    after it wakes the invocation (an async body waiting on several things at once).

    ``continue_with`` (with ``finish``, by the workflow's root; the id of one of ``children``)
    continues the workflow as new: the root finishes as ``finish`` says, but the workflow does
    not: that child becomes its root invocation, and the workflow is PENDING again (no
    retention expiry, ``parent`` not told: the new root carries the parent link on).
    """

    base_seq: int
    entries: Sequence[bytes] = ()
    data: Mapping[str, bytes] = field(default_factory=dict)
    children: Sequence[InvocationRecord] = ()
    suspend: Sequence[int] | None = None
    suspend_need: int | None = None
    finish: Finish | None = None
    parent: ParentOutcome | None = None
    pushes: Sequence[QueuePush] = ()
    parent_push: QueuePush | None = None
    suspend_push: QueuePush | None = None
    receipt: QueueReceipt | None = None
    signal: SignalTake | None = None
    continue_with: str | None = None


@dataclass(frozen=True, slots=True)
class CommitResult:
    """What a :class:`Batch` commit did.

    Attributes:
        ok: False when another writer got there first; nothing was written and ``winners``
            holds the entries recorded from ``base_seq`` on.
        ready: a requested suspension was not applied because every awaited outcome is
            already recorded; the caller should replay at once.
        cancel_requested: the workflow's cancel flag as of this write.
        parent: what recording the outcome in ``Batch.parent`` did; None when the batch
            named no parent or was not written. ``Batch.parent_push`` was written exactly
            when ``parent.wake`` is true.
        pushed: ``Batch.pushes`` were written. False when the batch was not written or the
            cancel flag was set: the caller sends those messages itself, after passing the
            cancellation on.
        signal: the signal ``Batch.signal`` took (now the outcome at its seq), or None.
        acked: ``Batch.receipt`` was acknowledged by this write.
    """

    ok: bool
    ready: bool = False
    cancel_requested: bool = False
    winners: list[bytes] = field(default_factory=list)
    parent: OutcomeResult | None = None
    pushed: bool = False
    signal: bytes | None = None
    acked: bool = False


@dataclass(frozen=True, slots=True)
class OutcomeResult:
    """What recording a child's outcome in its parent did.

    Attributes:
        recorded: False when an outcome was already recorded for that position.
        wake: True for exactly one recorder: the parent was suspended on this outcome and now
            has everything it waits for. Its status is PENDING; the caller enqueues it.
    """

    recorded: bool
    wake: bool


@dataclass(frozen=True, slots=True)
class Reopen:
    """One finished invocation taken back to PENDING by a repair (``StateStore.reopen``).

    Attributes:
        invocation_id: the invocation.
        length: how many history entries it must still hold (the repair was planned from
            them); a different count refuses the whole reopen.
        rewrite: history positions (among all ``length`` entries) replaced by these bytes: a
            recorded failure turned into a lifecycle event, so its position runs again.
        append: lifecycle events appended after the history.
        forget: positions whose recorded child outcome is removed, so the invocation waits
            for the (reopened) child again.
    """

    invocation_id: str
    length: int
    rewrite: Mapping[int, bytes] = field(default_factory=dict)
    append: Sequence[bytes] = ()
    forget: Sequence[int] = ()


@dataclass(frozen=True, slots=True)
class SignalResult:
    """What ``StateStore.send_signal`` did.

    Attributes:
        status: the workflow's status; None when there is no such workflow.
        accepted: the signal was stored by this call (buffered or delivered to a waiter).
            False when the workflow is missing or finished (nothing stored), or for a
            ``duplicate``.
        duplicate: a signal with the same ``signal_id`` was accepted before; nothing stored.
        wake: True for exactly one sender: the signal was recorded as the outcome a
            suspended waiter waited for, and it is now PENDING; the caller enqueues
            ``waiter``.
        waiter: the invocation the signal was delivered to, when it was.
    """

    status: WorkflowStatus | None
    accepted: bool
    duplicate: bool = False
    wake: bool = False
    waiter: InvocationRef | None = None
