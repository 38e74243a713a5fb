"""Crash injection and cross-process bookkeeping for the worker processes of the chaos suite.

Nothing here is library code: a worker module wraps the real ``RedisStore`` in a
``CrashingStore`` (a proxy implementing ``StateStore`` by delegation) and adds a
``CrashMiddleware`` to its broker. With ``WFCORE_CRASH_POINT=<name>`` set, the process dies with
``os._exit(137)`` (no cleanup, no ack: a power cut) the first time it reaches that point, once
per test run across every process (a Redis ``SET NX`` marker), so the restarted worker goes on.

Both also count, in Redis, what the guarantees are about: which child outcomes were recorded
(``record_outcome`` that returned ``recorded=True``), which invocations committed a finish,
which child messages a parent run sent, which messages were processed, which signals were
accepted or dropped as duplicates, and which invocations the recovery sweep claimed. A count
is written right after the store call returns and before any crash point, so the injected
crash never hides one; with one worker thread nothing else is in flight when it fires, so the
counts are exact. (Other threads, or a SIGKILL from outside,
can die between a store write and its count, which is why the chaos test asserts ``<= 1``.)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis
from dramatiq.middleware import Middleware

from wfcore import Codec, current_or_none
from wfcore._models import (
    Batch,
    CommitResult,
    InvocationRecord,
    OutcomeResult,
    QueuePush,
    SignalResult,
    Snapshot,
    WorkflowRecord,
    WorkflowStatus,
)
from wfcore.store import StateStore
from wfcore.store._delegating import DelegatingStore

__all__ = [
    "CRASH_ENV",
    "CRASH_POINTS",
    "Book",
    "CrashMiddleware",
    "CrashingStore",
    "operation_kinds",
]

CRASH_ENV = "WFCORE_CRASH_POINT"

CRASH_POINTS: dict[str, str] = {
    "after-start-before-enqueue": (
        "a client created a top-level workflow; its first message is not sent (tested with a "
        "client process, not a worker)"
    ),
    "after-record-before-enqueue": (
        "a parent committed start_task entries with the records of their plain children (one "
        "commit holds the children started since the last one); no child message is sent"
    ),
    "after-child-workflow-created": (
        "a force_new child workflow was created; the parent's start_task is not recorded yet"
    ),
    "after-record-before-enqueue-new-workflow": (
        "a parent recorded start_task of a force_new child workflow and is sending the "
        "messages of the children that commit recorded: this one (and any after it) is not sent"
    ),
    "after-child-workflow-finished-before-record": (
        "a force_new child workflow's root committed its finish; its outcome is not recorded "
        "in the parent (in the other workflow)"
    ),
    "after-outcome-recorded-before-wake": (
        "a child's outcome was recorded in the parent (by the child's finishing commit when "
        "both share a workflow, else by record_outcome) and it decided to wake it; the wake "
        "message is not sent"
    ),
    "flush-before-apply": (
        "a commit of buffered random/uuid/utc_now/set_data entries (a deterministic step's "
        "checkpoint) is about to reach the store"
    ),
    "flush-after-apply": (
        "the store applied a commit of buffered random/uuid/utc_now/set_data entries (a "
        "deterministic step's checkpoint); it has not returned to the workflow"
    ),
    "during-completion": "a top-level workflow's finish was committed; the run has not returned",
    "after-timer-suspend-before-wake": (
        "an invocation suspended on a new durable timer; the wake message is not sent"
    ),
    "after-signal-stored-before-wake": (
        "a signal was stored and recorded as the outcome of a suspended wait, and the store "
        "decided this sender wakes the waiter; the wake message is not sent (a client's "
        "handle.signal, or a workflow's wf.signal_workflow before its own commit)"
    ),
    "after-timer-suspend": (
        "an invocation suspended on a durable timer and its delayed wake message was sent; "
        "the worker dies before acking the message it was running"
    ),
}
"""Every crash point the worker knows, and where exactly the process dies."""

_BUFFERED = frozenset({"random", "uuid", "utc_now"})
_CODEC = Codec()


def operation_kinds(entries: Iterable[bytes]) -> list[str]:
    """The kinds of the recorded operations among history entries (lifecycle events skipped)."""
    kinds: list[str] = []
    for data in entries:
        if data[0] == 0x94:  # a lifecycle event (see wfcore._history.LIFECYCLE_MARK)
            continue
        raw = _CODEC.decode(data, what="history entry")
        kinds.append(str(raw[0]))
    return kinds


class Book:
    """Counters and one-shot markers in Redis, shared by the test and every worker process.

    Every key lives under ``prefix`` (deleted by the test afterwards).
    """

    def __init__(self, url: str, prefix: str) -> None:
        self.prefix = prefix
        self.client: redis.Redis = redis.Redis.from_url(url.split("?", 1)[0])

    def key(self, name: str) -> str:
        """The Redis key of counter hash or marker ``name``."""
        return f"{self.prefix}:{name}"

    def count(self, name: str, field: str, by: int = 1) -> int:
        """Add ``by`` to ``field`` of counter hash ``name``; the new value."""
        return int(self.client.hincrby(self.key(name), field, by))

    def counts(self, name: str) -> dict[str, int]:
        """Every field of counter hash ``name``."""
        raw: dict[bytes, bytes] = self.client.hgetall(self.key(name))  # type: ignore[assignment]
        return {k.decode(): int(v) for k, v in raw.items()}

    def value(self, name: str, field: str) -> int:
        """One field of counter hash ``name`` (0 when absent)."""
        raw: bytes | None = self.client.hget(self.key(name), field)  # type: ignore[assignment]
        return 0 if raw is None else int(raw)

    def first(self, name: str, value: str = "1") -> bool:
        """True exactly once per ``name`` across every process (``SET NX``)."""
        return bool(self.client.set(self.key(name), value, nx=True))

    def get(self, name: str) -> str | None:
        """The value of marker ``name``, or None."""
        raw: bytes | None = self.client.get(self.key(name))  # type: ignore[assignment]
        return None if raw is None else raw.decode()

    def close(self) -> None:
        """Close the connection."""
        self.client.close()


class _Counting:
    """The threads of this process between a write (to the store or the broker) and the
    count of it. A crash point kills the whole process, every worker thread with it: it
    first lets these finish (and lets no new one start), so the exact bookkeeping never
    misses a count because another thread died between its write and its count."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._open = 0
        self._dying = False
        self._local = threading.local()

    @contextmanager
    def window(self) -> Iterator[None]:
        self.open()
        try:
            yield
        finally:
            self.close()

    def open(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: not self._dying)
            self._open += 1
        self._local.depth = getattr(self._local, "depth", 0) + 1

    def close(self) -> None:
        if getattr(self._local, "depth", 0) > 0:  # not opened (an enqueue of another kind)
            self._local.depth -= 1
            with self._cond:
                self._open -= 1
                self._cond.notify_all()

    def drain(self, timeout: float = 5.0) -> None:
        """Wait (at most ``timeout``: a send that raised never closes its window) until no
        thread is between a write and its count; none can start one after this."""
        with self._cond:
            self._dying = True
            self._cond.wait_for(lambda: self._open == 0, timeout)


_COUNTING = _Counting()


def crash(book: Book, point: str | None, name: str, detail: str) -> None:
    """Die now (``os._exit(137)``) if ``name`` is the armed point and nobody crashed there yet,
    once the other threads' counts of their writes are in (``_Counting``)."""
    if point != name or not book.first(f"crash:{name}", detail):
        return
    _COUNTING.drain()
    os._exit(137)


@dataclass(frozen=True, slots=True)
class _Role:
    """Where an invocation sits: the root of a top-level workflow, the root of a child
    workflow (force_new)."""

    top: bool = False
    child_workflow: bool = False


def _member(*parts: object) -> str:
    return " ".join(str(p) for p in parts)


class CrashingStore(DelegatingStore):
    """A ``StateStore`` that delegates every call, counts, and crashes at the armed point."""

    def __init__(self, inner: StateStore, book: Book, point: str | None) -> None:
        super().__init__(inner)
        self.book = book
        self.point = point
        # (workflow id, invocation id) -> its place in the tree, learnt from loads.
        self._roles: dict[tuple[str, str], _Role] = {}
        self._lock = threading.Lock()

    def _crash(self, name: str, detail: str) -> None:
        crash(self.book, self.point, name, detail)

    # -- crash points ----------------------------------------------------------------------

    def create_workflow(
        self, workflow: WorkflowRecord, root: InvocationRecord, *, push: QueuePush | None = None
    ) -> tuple[WorkflowRecord, bool]:
        stored, created = self.inner.create_workflow(workflow, root, push=push)
        if created and workflow.parent_workflow_id is not None:
            self._crash("after-child-workflow-created", _member(workflow.workflow_id))
        if created and workflow.parent_workflow_id is None:
            self._crash("after-start-before-enqueue", _member(workflow.workflow_id))
        return stored, created

    def load(self, workflow_id: str, invocation_id: str, *, claim: bool = True) -> Snapshot | None:
        snap = self.inner.load(workflow_id, invocation_id, claim=claim)
        if snap is not None and claim:
            inv, workflow = snap.invocation, snap.workflow
            role = _Role(
                top=inv.parent_invocation_id is None and workflow.parent_workflow_id is None,
                child_workflow=workflow.parent_workflow_id is not None
                and invocation_id == workflow.root_invocation_id,
            )
            with self._lock:
                self._roles[(workflow_id, invocation_id)] = role
        return snap

    def commit(self, workflow_id: str, invocation_id: str, batch: Batch) -> CommitResult:
        kinds = operation_kinds(batch.entries)
        plain_flush = (
            batch.finish is None
            and batch.suspend is None
            and not batch.children
            and bool(_BUFFERED.intersection(kinds))
        )
        where = _member(workflow_id, invocation_id, batch.base_seq)
        if plain_flush:
            self._crash("flush-before-apply", where)
        with _COUNTING.window():
            result = self.inner.commit(workflow_id, invocation_id, batch)
            if not result.ok:
                return result
            if batch.finish is not None and batch.finish.status.finished:
                self.book.count("finished", _member(workflow_id, invocation_id))
        with self._lock:
            role = self._roles.get((workflow_id, invocation_id), _Role())
            if batch.finish is not None:
                self._roles.pop((workflow_id, invocation_id), None)
        if batch.children:
            # The detail names the children whose messages the crash loses.
            lost = ";".join(_member(c.workflow_id, c.invocation_id) for c in batch.children)
            self._crash("after-record-before-enqueue", lost)
        if plain_flush:
            self._crash("flush-after-apply", where)
        if batch.finish is not None and role.child_workflow:
            self._crash("after-child-workflow-finished-before-record", where)
        completed = batch.finish is not None and batch.finish.status is WorkflowStatus.COMPLETED
        if completed and role.top:
            self._crash("during-completion", where)
        if batch.suspend is not None and not result.ready and "sleep" in kinds:
            self._crash("after-timer-suspend-before-wake", where)
        if batch.parent is not None and result.parent is not None:
            self._told_parent(
                workflow_id, batch.parent.invocation_id, batch.parent.seq, result.parent
            )
        return result

    def record_outcome(
        self, workflow_id: str, invocation_id: str, seq: int, outcome: bytes
    ) -> OutcomeResult:
        with _COUNTING.window():
            result = self.inner.record_outcome(workflow_id, invocation_id, seq, outcome)
            if result.recorded:
                self.book.count("recorded", _member(workflow_id, invocation_id, seq))
        self._told_parent(workflow_id, invocation_id, seq, result, counted=True)
        return result

    def _told_parent(
        self,
        workflow_id: str,
        invocation_id: str,
        seq: int,
        result: OutcomeResult,
        *,
        counted: bool = False,
    ) -> None:
        if result.recorded and not counted:
            self.book.count("recorded", _member(workflow_id, invocation_id, seq))
        if result.wake:
            # The detail names the parent whose wake-up the crash loses.
            self._crash("after-outcome-recorded-before-wake", _member(workflow_id, invocation_id))

    def send_signal(
        self, workflow_id: str, name: str, payload: bytes, *, signal_id: str | None = None
    ) -> SignalResult:
        result = self.inner.send_signal(workflow_id, name, payload, signal_id=signal_id)
        if result.accepted or result.duplicate:
            what = "accepted" if result.accepted else "duplicate"
            self.book.count("signals", _member(workflow_id, name, what))
        if result.wake and result.waiter is not None:
            # The detail names the waiter whose wake-up the crash loses.
            waiter = result.waiter
            self._crash(
                "after-signal-stored-before-wake",
                _member(waiter.workflow_id, waiter.invocation_id),
            )
        return result

    def recover_candidates(
        self, *, older_than: float, now: float, limit: int = 100
    ) -> list[InvocationRecord]:
        found = self.inner.recover_candidates(older_than=older_than, now=now, limit=limit)
        for inv in found:
            self.book.count("swept", _member(inv.workflow_id, inv.invocation_id))
        return found


class CrashMiddleware(Middleware):
    """Counts child dispatches and processed messages; crashes around message sends."""

    def __init__(self, book: Book, point: str | None) -> None:
        self.book = book
        self.point = point

    def before_enqueue(self, broker: Any, message: Any, delay: int) -> None:
        """A child workflow's message about to be sent by a parent run: maybe die first."""
        target, ctx = _target(message), current_or_none()
        if target is None or ctx is None or target[1] == ctx.invocation_id:
            return
        if target[0] != ctx.workflow.workflow_id:
            crash(
                self.book, self.point, "after-record-before-enqueue-new-workflow", _member(*target)
            )
        _COUNTING.open()  # until after_enqueue has counted it

    def after_enqueue(self, broker: Any, message: Any, delay: int | None) -> None:
        """A message left. A child's, sent by a parent run: count it (here, not before: a
        message a commit was to write had ``before_enqueue`` even if the commit lost). A
        delayed wake-up: maybe die before the running message is acked."""
        target, ctx = _target(message), current_or_none()
        if target is not None and ctx is not None and target[1] != ctx.invocation_id:
            self.book.count("dispatched", _member(*target))
            _COUNTING.close()
        if target is not None and delay:
            crash(self.book, self.point, "after-timer-suspend", _member(*target, delay))

    def after_process_message(
        self,
        broker: Any,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        """Count every processed wfcore message (duplicates included)."""
        target = _target(message)
        if target is not None:
            self.book.count("processed", _member(*target))


def _target(message: Any) -> tuple[str, str] | None:
    data = message.options.get("wfcore")
    if not isinstance(data, dict):
        return None
    wid, iid = data.get("workflow_id"), data.get("invocation_id")
    if not isinstance(wid, str) or not isinstance(iid, str):
        return None
    return wid, iid
