"""The engine: start workflows and run one invocation against a store to its outcome."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from wfcore._codec import Codec
from wfcore._context import Runtime, WorkflowContext, _Conflict, _Suspend
from wfcore._current import _current
from wfcore._dispatch import Dispatcher, Outbox
from wfcore._durations import deadline_after
from wfcore._history import (
    HistoryEvent,
    Kind,
    Outcome,
    decode_entry,
    decode_outcome,
    encode_lifecycle,
    encode_outcome,
    error_info,
    is_operation,
    read_history,
)
from wfcore._identity import new_workflow_id, workflow_id_for_key
from wfcore._models import (
    Batch,
    CommitResult,
    Finish,
    InvocationRecord,
    InvocationRef,
    ParentOutcome,
    QueuePush,
    WorkflowRecord,
    WorkflowStatus,
)
from wfcore._tasks import TaskSpec
from wfcore.errors import (
    ConfigurationError,
    DeadlineExceededError,
    EncodeError,
    FatalError,
    RetryableError,
    WorkflowCancelled,
    WorkflowCancelledError,
    WorkflowFailedError,
    WorkflowNotFoundError,
)
from wfcore.store import StateStore

__all__ = ["Engine", "RunResult", "RunStatus"]

log = logging.getLogger("wfcore.engine")

_MAX_ID = 200
_BAD_ID = re.compile(r"[{}\s\x00-\x1f]")


# Interpreter exits are not task failures; anything else (time limits, too) is one.
_NOT_FAILURES = (KeyboardInterrupt, SystemExit, GeneratorExit)


class RunStatus(StrEnum):
    """What one run of an invocation ended with."""

    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    SUSPENDED = "SUSPENDED"
    RETRY = "RETRY"
    SKIPPED = "SKIPPED"


@dataclass(frozen=True, slots=True)
class RunResult:
    """The outcome of :meth:`Engine.run`.

    Attributes:
        status: COMPLETED/FAILED/CANCELLED (final), SUSPENDED (waiting, nothing held),
            RETRY (failed, the queue should retry it) or SKIPPED (already finished or gone).
        value: the return value when COMPLETED.
        error: the exception when FAILED or RETRY.
        retry_delay: seconds asked for by ``RetryableError(delay=...)``.
    """

    status: RunStatus
    value: Any = None
    error: BaseException | None = None
    retry_delay: float | None = None


class Engine:
    """Runs invocations of registered tasks against a store, dispatching through a port."""

    def __init__(
        self,
        *,
        store: StateStore,
        dispatcher: Dispatcher,
        tasks: Callable[[str], TaskSpec],
        codec: Codec | None = None,
        max_conflicts: int = 20,
        clock: Callable[[], float] = time.time,
        max_sleep_hop: float = 900.0,
        outbox: Outbox | None = None,
    ) -> None:
        if outbox is not None and not getattr(store, "writes_pushes", False):
            raise ConfigurationError(
                f"{store!r} cannot write queue messages in its commits, so it cannot be "
                "given an outbox; pass outbox=None"
            )
        self.store = store
        self.codec = codec or Codec()
        self.dispatcher = dispatcher
        self._tasks = tasks
        self.clock = clock
        self._outbox = outbox
        self._runtime = Runtime(store, self.codec, dispatcher, clock, outbox)
        self._max_sleep_hop = max_sleep_hop
        self._max_conflicts = max_conflicts
        # Runs in progress in this process, by (workflow id, invocation id, task name): a
        # tuple hashes in C, a frozen dataclass in Python, and this is done on every message.
        self._running: dict[tuple[str, str, str], int] = {}
        self._running_lock = threading.Lock()

    def task(self, name: str) -> TaskSpec:
        """The task registered under ``name``.

        Raises:
            ConfigurationError: no such task.
        """
        return self._tasks(name)

    # -- starting ------------------------------------------------------------------------

    def start(
        self,
        spec: TaskSpec,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        workflow_id: str | None = None,
        idempotency_key: str | None = None,
        delay: float | None = None,
        max_duration: float | None = None,
    ) -> tuple[WorkflowRecord, bool]:
        """Create a workflow running ``spec`` and enqueue it; idempotent by id or key.

        ``delay`` (seconds) postpones its first run; ``max_duration`` (seconds, default the
        task's) fails the workflow once it has run that long, suspended or not.

        Returns:
            The stored workflow and whether this call created it.
        """
        if workflow_id is not None and idempotency_key is not None:
            raise ConfigurationError(
                "pass either workflow_id= or idempotency_key=, not both: each names the workflow"
            )
        if idempotency_key is not None:
            _check_id("idempotency_key", idempotency_key, max_len=10_000)
            wid = workflow_id_for_key(idempotency_key)
        elif workflow_id is not None:
            _check_id("workflow_id", workflow_id)
            wid = workflow_id
        else:
            wid = new_workflow_id()
        args_blob = self.codec.encode(
            [list(args), kwargs or {}], what=f"arguments of task {spec.name!r}"
        )
        now = self.clock()
        limit = max_duration if max_duration is not None else spec.max_duration
        record = WorkflowRecord(
            workflow_id=wid,
            workflow_type=spec.name,
            root_workflow_id=wid,
            root_invocation_id=wid,
            idempotency_key=idempotency_key,
            deadline=deadline_after(now, limit, (delay or 0.0)),
            created_at=now,
            updated_at=now,
        )
        root = InvocationRecord(
            invocation_id=wid,
            workflow_id=wid,
            task_name=spec.name,
            args=args_blob,
            # A delayed start is "created" when it is due: the recovery sweep, which looks
            # for invocations idle too long, must not start it early.
            created_at=now + (delay or 0.0),
            updated_at=now + (delay or 0.0),
        )
        # With an outbox, the store writes the first message with the records (delayed starts
        # go through the dispatcher): no moment where the workflow exists without it.
        push = self._outbox.prepare(root.ref) if self._outbox is not None and not delay else None
        stored, created = self.store.create_workflow(record, root, push=push)
        if not created and stored.workflow_type != spec.name:
            raise ConfigurationError(
                f"workflow {wid!r} already exists as a {stored.workflow_type!r} workflow; "
                f"it cannot be started again as {spec.name!r}. Use another id or key"
            )
        if created:
            if delay:
                self.dispatcher.wake(root.ref, delay)
            elif not self._written(push):
                self.dispatcher.enqueue(root.ref)
        return stored, created

    # -- running -------------------------------------------------------------------------

    def run(self, ref: InvocationRef, *, final_attempt: bool = True) -> RunResult:
        """Execute (replay) one invocation until it completes, fails or suspends.

        Args:
            ref: the invocation to run.
            final_attempt: False while the queue will retry a failure; True makes any
                exception a permanent failure.
        """
        key = (ref.workflow_id, ref.invocation_id, ref.task_name)
        with self._running_lock:
            self._running[key] = self._running.get(key, 0) + 1
        try:
            for _ in range(self._max_conflicts):
                result = self._run_once(ref, final_attempt)
                if result is not None:
                    return result
        finally:
            with self._running_lock:
                left = self._running[key] - 1
                if left:
                    self._running[key] = left
                else:
                    del self._running[key]
        return RunResult(
            RunStatus.RETRY,
            error=RuntimeError(
                f"invocation {ref.invocation_id!r} kept losing races with other writers "
                f"({self._max_conflicts} replays); retrying later"
            ),
        )

    def _run_once(self, ref: InvocationRef, final_attempt: bool) -> RunResult | None:
        snap = self.store.load(ref.workflow_id, ref.invocation_id)
        if snap is None:
            log.warning(
                "invocation %s of workflow %s is not in the store (expired or never created); "
                "message dropped",
                ref.invocation_id,
                ref.workflow_id,
                extra={"workflow_id": ref.workflow_id, "invocation_id": ref.invocation_id},
            )
            return RunResult(RunStatus.SKIPPED)
        inv = snap.invocation
        if inv.status.finished:
            # A redelivered message: make sure the parent heard, then drop it.
            if inv.outcome is not None:
                self._notify_parent(inv, inv.outcome)
            return RunResult(RunStatus.SKIPPED)
        deadline = snap.workflow.deadline
        if deadline is not None and self.clock() >= deadline:
            return self._past_deadline(snap.workflow, inv)
        if snap.workflow.cancel_requested and not inv.cancel_shielded and not snap.entries:
            return self._skip_cancelled(snap.invocation)
        spec = self._tasks(inv.task_name)
        ctx = WorkflowContext(self._runtime, snap)
        try:
            return self._execute(spec, ctx, inv, final_attempt)
        finally:
            # A signal the run raised holds its traceback, whose frames hold the context:
            # dropping it lets reference counting free the whole run now, instead of leaving
            # a garbage cycle (the run's records, history and frames) to the collector.
            ctx._fatal = None

    def _execute(
        self, spec: TaskSpec, ctx: WorkflowContext, inv: InvocationRecord, final_attempt: bool
    ) -> RunResult | None:
        token = _current.set(ctx)
        try:
            args, kwargs = self.codec.decode(inv.args, what=f"arguments of {inv.invocation_id!r}")
            value = spec.fn(*args, **kwargs)
        except BaseException as exc:  # every path out of user code is decided below
            return self._after_error(ctx, inv, ctx._fatal or exc, final_attempt)
        finally:
            _current.reset(token)
        if ctx._fatal is not None:  # user code swallowed a signal or a divergence
            return self._after_error(ctx, inv, ctx._fatal, final_attempt)
        return self._complete(ctx, inv, value, final_attempt)

    def _complete(
        self, ctx: WorkflowContext, inv: InvocationRecord, value: Any, final: bool
    ) -> RunResult | None:
        leftover = ctx._leftover()
        if leftover is not None:
            return self._fail(ctx, inv, leftover, final=final)
        try:
            outcome = encode_outcome(
                self.codec, WorkflowStatus.COMPLETED, value, f"result of task {inv.task_name!r}"
            )
        except EncodeError as exc:
            return self._fail(ctx, inv, exc, final=True)
        finish = Finish(WorkflowStatus.COMPLETED, outcome)
        ctx._lifecycle("task_completed", None)
        parent, push = self._parent_link(inv)
        committed = ctx._commit(finish=finish, parent=parent, parent_push=push)
        if not committed.ok:
            return None
        self._tell_parent(inv, outcome, committed, push)
        _log(ctx, logging.DEBUG, "invocation %s of %s completed", inv.invocation_id, inv.task_name)
        return RunResult(RunStatus.COMPLETED, value=value)

    def _after_error(
        self, ctx: WorkflowContext, inv: InvocationRecord, exc: BaseException, final: bool
    ) -> RunResult | None:
        if isinstance(exc, _Conflict):
            return None
        if isinstance(exc, _Suspend):
            return self._suspend(ctx, inv, exc, final)
        if isinstance(exc, WorkflowCancelled):
            return self._finish(ctx, inv, WorkflowStatus.CANCELLED, exc, RunStatus.CANCELLED)
        if isinstance(exc, _NOT_FAILURES):
            raise exc
        return self._fail(ctx, inv, exc, final=final or isinstance(exc, FatalError))

    def _suspend(
        self, ctx: WorkflowContext, inv: InvocationRecord, signal: _Suspend, final: bool
    ) -> RunResult | None:
        leftover = ctx._leftover()
        if leftover is not None:
            return self._fail(ctx, inv, leftover, final=final)
        ctx._lifecycle("task_suspended", list(signal.seqs))
        wake_at = signal.wake_at
        deadline = ctx._workflow_record.deadline
        if deadline is not None and (wake_at is None or deadline < wake_at):
            wake_at = deadline  # wake at the deadline to fail it, even if nothing else would
        delay = push = None
        if wake_at is not None:
            # Long waits go in hops, so no message waits in a broker for hours.
            delay = min(max(0.0, wake_at - self.clock()), self._max_sleep_hop)
            if self._outbox is not None:
                push = self._outbox.prepare(inv.ref, delay)
        result = ctx._commit(suspend=signal.seqs, suspend_push=push)
        if not result.ok or result.ready:
            return None  # replay now: another writer won, or what we wait for is there
        if not self._written(push) and delay is not None:
            self.dispatcher.wake(inv.ref, delay)
        _log(ctx, logging.DEBUG, "invocation %s suspended on %s", inv.invocation_id, signal.seqs)
        return RunResult(RunStatus.SUSPENDED)

    def _fail(
        self, ctx: WorkflowContext, inv: InvocationRecord, exc: BaseException, *, final: bool
    ) -> RunResult | None:
        if final:
            return self._finish(ctx, inv, WorkflowStatus.FAILED, exc, RunStatus.FAILED)
        # Keep what was recorded so the retry replays the same values.
        ctx._lifecycle("task_retrying", _error_text(exc))
        if not ctx._commit().ok:
            return None
        delay = exc.delay if isinstance(exc, RetryableError) else None
        _log(
            ctx, logging.WARNING, "invocation %s failed, to be retried: %r", inv.invocation_id, exc
        )
        return RunResult(RunStatus.RETRY, error=exc, retry_delay=delay)

    def _finish(
        self,
        ctx: WorkflowContext,
        inv: InvocationRecord,
        status: WorkflowStatus,
        exc: BaseException,
        run_status: RunStatus,
    ) -> RunResult | None:
        outcome = encode_outcome(self.codec, status, exc, f"error of task {inv.task_name!r}")
        finish = Finish(status, outcome)
        ctx._lifecycle(f"task_{status.value.lower()}", _error_text(exc))
        parent, push = self._parent_link(inv)
        committed = ctx._commit(finish=finish, parent=parent, parent_push=push)
        if not committed.ok:
            return None
        self._tell_parent(inv, outcome, committed, push)
        level = logging.ERROR if status is WorkflowStatus.FAILED else logging.INFO
        _log(ctx, level, "invocation %s %s: %r", inv.invocation_id, status.value.lower(), exc)
        return RunResult(run_status, error=exc)

    def _past_deadline(self, workflow: WorkflowRecord, inv: InvocationRecord) -> RunResult:
        """Fail an invocation of a workflow past its deadline, and cancel child workflows."""
        assert workflow.deadline is not None
        limit = workflow.deadline - workflow.created_at
        error = DeadlineExceededError(
            f"workflow {workflow.workflow_id!r} ({workflow.workflow_type}) ran past its "
            f"max_duration of {limit:g} s; raise max_duration or make the work shorter",
            workflow_id=workflow.workflow_id,
            deadline=workflow.deadline,
        )
        self.fail(inv.ref, error)
        for child in self.store.child_workflows(workflow.workflow_id):
            self.cancel(child.workflow_id)
        return RunResult(RunStatus.FAILED, error=error)

    def _skip_cancelled(self, inv: InvocationRecord) -> RunResult | None:
        """A queued invocation of a cancelled workflow that never ran: cancel, don't run."""
        error = WorkflowCancelled(inv.workflow_id)
        outcome = encode_outcome(
            self.codec, WorkflowStatus.CANCELLED, error, f"error of task {inv.task_name!r}"
        )
        event = encode_lifecycle(self.codec, "task_cancelled", "skipped", inv.attempts)
        finish = Finish(WorkflowStatus.CANCELLED, outcome)
        parent, push = self._parent_link(inv)
        batch = Batch(0, [event], finish=finish, parent=parent, parent_push=push)
        committed = self.store.commit(inv.workflow_id, inv.invocation_id, batch)
        if not committed.ok:
            return None
        self._tell_parent(inv, outcome, committed, push)
        return RunResult(RunStatus.CANCELLED, error=error)

    def cancel(self, workflow_id: str) -> bool:
        """Cancel a workflow and its descendant workflows, persistently.

        Running and suspended invocations get ``WorkflowCancelled`` at their next ``wf``
        operation (suspended ones are woken for it); queued ones that never ran are skipped.

        Returns:
            False when the workflow had already finished (nothing to cancel), else True.

        Raises:
            WorkflowNotFoundError: there is no such workflow.
        """
        record = self.workflow(workflow_id)
        if record.status.finished:
            return False
        pending = [record]
        while pending:
            current = pending.pop()
            if current.status.finished:
                continue
            self.store.request_cancel(current.workflow_id)
            for inv in self.store.list_invocations(current.workflow_id):
                if inv.status is WorkflowStatus.SUSPENDED:
                    self.dispatcher.enqueue(inv.ref)
            pending.extend(self.store.child_workflows(current.workflow_id))
        return True

    def heartbeat(self) -> int:
        """Mark the invocations this process is running as alive (``updated_at`` = now).

        Call it more often than ``stale_after`` (workers do, before each sweep), so a run
        longer than ``stale_after`` is never taken for a lost one. How many were marked.
        """
        with self._running_lock:
            refs = [InvocationRef(*key) for key in self._running]
        if refs:
            self.store.heartbeat(refs, self.clock())
        return len(refs)

    def hold(self, ref: InvocationRef, *, until: float) -> None:
        """Keep recovery sweeps off a running invocation until ``until`` (plus their
        ``stale_after``): its queue will deliver its next attempt by then."""
        self.store.heartbeat([ref], until)

    def recover(self, *, stale_after: float = 60.0, limit: int = 500) -> list[InvocationRef]:
        """Re-enqueue invocations that should be running but have no live message.

        Claims (store-atomically, so many workers may sweep at once) the unfinished
        invocations not updated for ``stale_after`` seconds and sends a message for each
        that can make progress: pending or running ones (their message was lost, or their
        worker died), and suspended ones whose awaited outcomes are all there or whose timer
        is due (a lost wake-up). Duplicates are harmless: every run is a replay and the store
        keeps the first writer.

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
            elif entry.kind != Kind.SLEEP or float(entry.value) > now:
                can_run = False
        return can_run

    def fail(self, ref: InvocationRef, error: BaseException) -> bool:
        """Fail a not yet finished invocation for good from outside its run.

        For decisions taken after a run (a queue's retry policy gave up). True if this call
        finished it.
        """
        for _ in range(self._max_conflicts):
            snap = self.store.load(ref.workflow_id, ref.invocation_id, claim=False)
            if snap is None or snap.invocation.status.finished:
                return False
            inv = snap.invocation
            outcome = encode_outcome(
                self.codec, WorkflowStatus.FAILED, error, f"error of task {inv.task_name!r}"
            )
            event = encode_lifecycle(self.codec, "task_failed", _error_text(error), inv.attempts)
            finish = Finish(WorkflowStatus.FAILED, outcome)
            parent, push = self._parent_link(inv)
            batch = Batch(
                len(snap.entries), [event], finish=finish, parent=parent, parent_push=push
            )
            committed = self.store.commit(ref.workflow_id, ref.invocation_id, batch)
            if committed.ok:
                self._tell_parent(inv, outcome, committed, push)
                return True
        return False

    def _parent_link(self, inv: InvocationRecord) -> tuple[ParentOutcome | None, QueuePush | None]:
        """What a finishing commit of ``inv`` tells a parent in its workflow: the outcome's
        place, and (with an outbox) the wake-up message the commit writes if it wakes it."""
        parent = _parent_outcome(inv)
        if parent is None or self._outbox is None or inv.parent_ref is None:
            return parent, None
        return parent, self._outbox.prepare(inv.parent_ref)

    def _tell_parent(
        self,
        inv: InvocationRecord,
        outcome: bytes,
        committed: CommitResult,
        push: QueuePush | None,
    ) -> None:
        """After a committed finish: wake the parent its commit told, or tell it now."""
        if committed.parent is None:
            self._notify_parent(inv, outcome)
        elif committed.parent.wake and inv.parent_ref is not None and not self._written(push):
            self.dispatcher.enqueue(inv.parent_ref)  # the commit did not write the wake-up

    def _written(self, push: QueuePush | None) -> bool:
        """After a write that carried ``push`` (and wrote it): its after-send bookkeeping.
        False when there was no push, so the caller sends the message itself."""
        if push is None or self._outbox is None:
            return False
        self._outbox.pushed(push)
        return True

    def _notify_parent(self, inv: InvocationRecord, outcome: bytes) -> None:
        parent = inv.parent_ref
        if parent is None or inv.parent_seq is None:
            return
        result = self.store.record_outcome(
            parent.workflow_id, parent.invocation_id, inv.parent_seq, outcome
        )
        if result.wake:
            self.dispatcher.enqueue(parent)

    # -- reading outcomes ----------------------------------------------------------------

    def workflow(self, workflow_id: str) -> WorkflowRecord:
        """The stored workflow.

        Raises:
            WorkflowNotFoundError: there is no such workflow.
        """
        record = self.store.get_workflow(workflow_id)
        if record is None:
            raise WorkflowNotFoundError(
                f"no workflow {workflow_id!r} in the store; check the id (and the store URL), "
                "or it finished and its retention has passed"
            )
        return record

    def history(self, workflow_id: str) -> list[HistoryEvent]:
        """The workflow's lifecycle events and recorded operations, in time order."""
        self.workflow(workflow_id)
        return read_history(self.store, self.codec, workflow_id)

    def outcome(self, workflow_id: str) -> Outcome | None:
        """The decoded outcome of a finished workflow, or None while it runs."""
        record = self.workflow(workflow_id)
        if not record.status.finished:
            return None
        root = self.store.get_invocation(workflow_id, record.root_invocation_id)
        if root is None or root.outcome is None:
            return None
        return decode_outcome(self.codec, root.outcome, f"workflow {workflow_id!r}")

    def result(self, workflow_id: str) -> Any:
        """The return value of a finished workflow.

        Raises:
            WorkflowFailedError: it failed.
            WorkflowCancelledError: it was cancelled.
            WorkflowNotFoundError: there is no such workflow.
            LookupError: it has not finished yet.
        """
        outcome = self.outcome(workflow_id)
        if outcome is None:
            raise LookupError(f"workflow {workflow_id!r} has not finished")
        return outcome_value(workflow_id, outcome)


def outcome_value(workflow_id: str, outcome: Outcome) -> Any:
    """The value of a finished workflow's outcome, or the error it ended with."""
    if outcome.status is WorkflowStatus.COMPLETED:
        return outcome.value
    if outcome.status is WorkflowStatus.CANCELLED:
        raise WorkflowCancelledError(
            f"workflow {workflow_id!r} was cancelled", workflow_id=workflow_id
        )
    error_type, message, traceback = error_info(outcome.value)
    raise WorkflowFailedError(
        f"workflow {workflow_id!r} failed: {error_type}: {message}",
        workflow_id=workflow_id,
        error_type=error_type,
        error_message=message,
        traceback=traceback,
    )


def _error_text(error: BaseException) -> str:
    type_name, message, _ = error_info(error)
    return f"{type_name}: {message}"


def _log(ctx: WorkflowContext, level: int, msg: str, *args: object) -> None:
    if log.isEnabledFor(level):
        log.log(level, msg, *args, extra=ctx.log_extra())


def _check_id(what: str, value: object, *, max_len: int = _MAX_ID) -> None:
    if (
        not isinstance(value, str)
        or not value
        or len(value) > max_len
        or (what == "workflow_id" and _BAD_ID.search(value))
    ):
        raise ConfigurationError(
            f"{what} must be a non-empty str of at most {max_len} characters"
            + (" without braces, spaces or control characters" if what == "workflow_id" else "")
            + f", got {value!r:.60}"
        )


def _parent_outcome(inv: InvocationRecord) -> ParentOutcome | None:
    """The parent a finishing commit records the outcome in: one in the same workflow (the
    same store slot); a parent in another workflow is told by ``record_outcome`` after."""
    if inv.parent_seq is None or inv.parent_invocation_id is None:
        return None
    if inv.parent_workflow_id != inv.workflow_id:
        return None
    return ParentOutcome(inv.parent_invocation_id, inv.parent_seq)
