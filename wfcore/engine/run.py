"""Running one invocation: replay it to completion, failure, retry or suspension."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from wfcore._current import _current
from wfcore._history import encode_lifecycle, encode_outcome
from wfcore._models import (
    Batch,
    Finish,
    InvocationRecord,
    InvocationRef,
    WorkflowRecord,
    WorkflowStatus,
)
from wfcore._tasks import Body, TaskSpec
from wfcore.context import WorkflowContext
from wfcore.context.awaiting import run_async
from wfcore.context.runtime import _Conflict, _ContinueAsNew, _Suspend
from wfcore.engine.base import log
from wfcore.engine.cancel import Cancelling
from wfcore.engine.continuing import ContinuingRuns
from wfcore.engine.heartbeats import Heartbeating
from wfcore.engine.outcomes import error_text
from wfcore.errors import (
    ConfigurationError,
    DeadlineExceededError,
    EncodeError,
    FatalError,
    RetryableError,
    WorkflowCancelled,
)
from wfcore.observability.observer import Observer

__all__ = ["RunResult", "RunStatus", "Running"]


# Interpreter exits are not task failures; anything else (time limits, too) is one.
_NOT_FAILURES = (KeyboardInterrupt, SystemExit, GeneratorExit)
_NEVER_RETRIED = (FatalError, ConfigurationError)


class RunStatus(StrEnum):
    """What one run of an invocation ended with."""

    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    SUSPENDED = "SUSPENDED"
    RETRY = "RETRY"
    SKIPPED = "SKIPPED"
    CONTINUED = "CONTINUED"  # the run continued the workflow as new (wf.continue_as_new)


# A root invocation's run ending so ends its workflow.
_WORKFLOW_ENDS = {
    RunStatus.COMPLETED: WorkflowStatus.COMPLETED,
    RunStatus.FAILED: WorkflowStatus.FAILED,
    RunStatus.CANCELLED: WorkflowStatus.CANCELLED,
}


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


# Runs after which the invocation runs again (a finished one is not held: only a repair
# would run it again, and it rewrites the history).
_RESUMED = frozenset({RunStatus.SUSPENDED, RunStatus.RETRY})

# What _run_once returns when the suspension it tried found its outcomes there already.
_READY = RunResult(RunStatus.SUSPENDED)


class Running(Cancelling, Heartbeating, ContinuingRuns):
    """Executes an invocation's task function under its context and commits the outcome."""

    def run(
        self,
        ref: InvocationRef,
        *,
        final_attempt: bool = True,
        carried: Mapping[str, Any] | None = None,
    ) -> RunResult:
        """Execute (replay) one invocation until it completes, fails or suspends.

        Args:
            ref: the invocation to run.
            final_attempt: False while the queue will retry a failure; True makes any
                exception a permanent failure.
            carried: what the message asking for this run carried for the engine's
                observer (trace context, send time); see ``Observer.run_started``.
        """
        self.track(ref)
        try:
            conflicts = 0
            while conflicts < self._max_conflicts:
                result = self._run_once(ref, final_attempt, carried)
                if result is _READY:
                    # Outcomes it waits for arrived while it ran: replay now. Each such
                    # replay delivers them, so this ends; it is no lost race.
                    continue
                if result is not None:
                    return result
                conflicts += 1
        finally:
            self.untrack(ref)
        return RunResult(
            RunStatus.RETRY,
            error=RuntimeError(
                f"invocation {ref.invocation_id!r} kept losing races with other writers "
                f"({self._max_conflicts} replays); retrying later"
            ),
        )

    def _run_once(
        self, ref: InvocationRef, final_attempt: bool, carried: Mapping[str, Any] | None
    ) -> RunResult | None:
        snap, held = self.histories.load(self.store, ref.workflow_id, ref.invocation_id)
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
            return self._skip_cancelled(snap.workflow, snap.invocation)
        spec = self._tasks(inv.task_name)
        ctx = WorkflowContext(self._runtime, snap, held=held)
        observer = self.observer
        result = None
        try:
            if observer is None:
                result = self._execute(spec, ctx, inv, final_attempt)
            else:
                result = self._observed(observer, spec, ctx, inv, final_attempt, carried)
            return result
        finally:
            if held is not None and result is not None and result.status in _RESUMED:
                # Every commit of the run went in, and it will run again: hold its history.
                key = (ref.workflow_id, ref.invocation_id)
                self.histories.give_back(key, held, ctx._written)
            # A signal the run raised holds its traceback, whose frames hold the context:
            # dropping it lets reference counting free the whole run now, instead of leaving
            # a garbage cycle (the run's records, history and frames) to the collector.
            ctx._fatal = None

    def _observed(
        self,
        observer: Observer,
        spec: TaskSpec,
        ctx: WorkflowContext,
        inv: InvocationRecord,
        final_attempt: bool,
        carried: Mapping[str, Any] | None,
    ) -> RunResult | None:
        """``_execute`` between the observer's ``run_started`` and ``run_ended``."""
        token = observer.run_started(ctx, carried)
        result = None
        try:
            result = self._execute(spec, ctx, inv, final_attempt)
        finally:
            observer.run_ended(token, ctx, result)
        if result is not None and result.status in _WORKFLOW_ENDS:
            self._ended(ctx._workflow_record, inv.invocation_id, _WORKFLOW_ENDS[result.status])
        return result

    def _execute(
        self, spec: TaskSpec, ctx: WorkflowContext, inv: InvocationRecord, final_attempt: bool
    ) -> RunResult | None:
        token = _current.set(ctx)
        try:
            args, kwargs = self.codec.decode(inv.args, what=f"arguments of {inv.invocation_id!r}")
            if spec.body is Body.SYNC:
                value = spec.fn(*args, **kwargs)
            else:
                value = run_async(ctx, spec, args, kwargs)
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
        # Acknowledged by this write only when it tells the parent too, or there is none:
        # nothing is left for a redelivery then (a parent workflow is told after it).
        receipt = self._receipt(inv) if parent is not None or inv.parent_ref is None else None
        committed = ctx._commit(finish=finish, parent=parent, parent_push=push, receipt=receipt)
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
        if isinstance(exc, _ContinueAsNew):
            leftover = ctx._leftover()
            if leftover is not None:
                return self._fail(ctx, inv, leftover, final=final)
            if not self._continue(ctx, inv, exc).ok:
                return None
            return RunResult(RunStatus.CONTINUED)
        if isinstance(exc, WorkflowCancelled):
            return self._finish(ctx, inv, WorkflowStatus.CANCELLED, exc, RunStatus.CANCELLED)
        if isinstance(exc, _NOT_FAILURES):
            raise exc
        # A ConfigurationError is misuse (a wf operation given a plain actor, a bad argument):
        # every retry would replay into it again, so it fails the invocation at once.
        return self._fail(ctx, inv, exc, final=final or isinstance(exc, _NEVER_RETRIED))

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
        result = ctx._commit(
            suspend=signal.seqs,
            suspend_push=push,
            suspend_need=signal.need,
            receipt=self._receipt(inv),
        )
        if not result.ok:
            return None  # another writer won: replay now
        if result.ready:
            return _READY  # what it waits for is there: replay now
        if ctx._cancel_pending:
            # The cancel flag was set while this run went on (the commit read it): a cancel
            # walk that saw this invocation running did not wake it, so deliver it now.
            return _READY
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
        ctx._lifecycle("task_retrying", error_text(exc))
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
        ctx._lifecycle(f"task_{status.value.lower()}", error_text(exc))
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
        if self.fail(inv.ref, error):
            self._ended(workflow, inv.invocation_id, WorkflowStatus.FAILED)
        for child in self.store.child_workflows(workflow.workflow_id):
            self.cancel(child.workflow_id)
        return RunResult(RunStatus.FAILED, error=error)

    def _skip_cancelled(self, workflow: WorkflowRecord, inv: InvocationRecord) -> RunResult | None:
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
        self._ended(workflow, inv.invocation_id, WorkflowStatus.CANCELLED)
        return RunResult(RunStatus.CANCELLED, error=error)


def _log(ctx: WorkflowContext, level: int, msg: str, *args: object) -> None:
    if log.isEnabledFor(level):
        log.log(level, msg, *args, extra=ctx.log_extra())
