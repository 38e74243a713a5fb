"""``Replayer``: strict re-execution of recorded workflows against the current code, no writes."""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wfcore._codec import Codec
from wfcore._current import _current
from wfcore._export import import_history
from wfcore._history import decode_outcome, error_info, is_operation
from wfcore._models import (
    Batch,
    CommitResult,
    InvocationRecord,
    InvocationRef,
    OutcomeResult,
    QueuePush,
    Reopen,
    SignalResult,
    Snapshot,
    WorkflowRecord,
    WorkflowStatus,
)
from wfcore._tasks import TaskSpec, spec_of
from wfcore.context import Runtime, WorkflowContext
from wfcore.context.awaiting import call_body
from wfcore.context.continuing import continued_run, run_invocation_id, run_of
from wfcore.context.runtime import _ContinueAsNew, _Suspend
from wfcore.errors import (
    ConfigurationError,
    NonDeterminismError,
    WfError,
    WorkflowCancelled,
    WorkflowNotFoundError,
)
from wfcore.store import StateStore
from wfcore.store._delegating import DelegatingStore

__all__ = ["Divergence", "ReplayResult", "Replayer"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


@dataclass(frozen=True, slots=True)
class Divergence:
    """Where the current code stopped matching a recorded history.

    Attributes:
        workflow_id: the workflow.
        invocation_id: the invocation.
        task_name: its task.
        seq: the position, or None when the outcome differs.
        recorded: what the history holds there.
        attempted: what the code did instead.
        message: the full explanation.
        source: ``file:line`` of the code's call, when known.
    """

    workflow_id: str
    invocation_id: str
    task_name: str
    seq: int | None
    recorded: str
    attempted: str
    message: str
    source: str | None = None


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """The outcome of replaying one recorded workflow tree.

    Attributes:
        workflow_id: the replayed workflow.
        invocations: how many invocations were re-executed and checked: the finished or
            suspended ones that recorded at least one ``wf`` operation.
        events: how many recorded operations they replayed.
        divergence: the first divergence, or None.
        skipped: invocations still pending or running: nothing settled to check.
        settled: finished invocations that recorded no ``wf`` operation (leaf tasks, runs a
            cancellation skipped). Never re-executed, so their side effects are not repeated;
            their recorded outcomes stand, as their parents' replays read them.
    """

    workflow_id: str
    invocations: int = 0
    events: int = 0
    divergence: Divergence | None = None
    skipped: list[str] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every replayed invocation matched its history and its outcome."""
        return self.divergence is None


class ReplayWriteError(WfError):
    """A strict replay tried to write to the store (a bug: replays never write)."""


class Replayer:
    """Replays recorded workflows against the current code, strictly and without writes.

    Every finished or suspended invocation of a workflow (and of its child workflows) that
    recorded ``wf`` operations runs again from the top with its recorded history: each
    operation must match kind and name at its position and returns its recorded value (step
    functions are not called, children are not run, timers do not wait), the code may not go
    past the history except to suspend where it suspended, and the outcome must equal the
    recorded one. The code between operations runs again; ``wf.is_replaying`` is True
    throughout. An invocation that recorded no operation is never re-executed: its recorded
    outcome stands (``ReplayResult.settled``).

    Args:
        tasks: the tasks by name (a mapping or a lookup function; an App's ``engine`` tasks).
        codec: the codec the histories were written with (for registered model types).
        resolve: what ``wf.start_task`` accepts as a task (an engine's ``resolve_task``).
    """

    def __init__(
        self,
        tasks: Mapping[str, TaskSpec] | Callable[[str], TaskSpec],
        *,
        codec: Codec | None = None,
        resolve: Callable[[object], TaskSpec] = spec_of,
    ) -> None:
        self._lookup = tasks if callable(tasks) else _mapping_lookup(tasks)
        self.codec = codec or Codec()
        self._resolve = resolve

    def replay(self, store: StateStore, workflow_id: str) -> ReplayResult:
        """Replay a workflow (and its child workflows) held in ``store``."""
        if store.get_workflow(workflow_id) is None:
            raise WorkflowNotFoundError(f"no workflow {workflow_id!r} to replay")
        runtime = Runtime(ReadOnlyStore(store), self.codec, NoDispatch(), resolve=self._resolve)
        counts = [0, 0]
        skipped: list[str] = []
        settled: list[str] = []
        pending = [workflow_id]
        while pending:
            current = pending.pop(0)
            for inv in store.list_invocations(current):
                snap = store.load(current, inv.invocation_id, claim=False)
                if snap is None:
                    continue
                status = snap.invocation.status
                if not (status.finished or status is WorkflowStatus.SUSPENDED):
                    skipped.append(inv.invocation_id)  # still running: nothing settled to check
                    continue
                operations = sum(1 for e in snap.entries if is_operation(e))
                if not operations:
                    # Nothing to check it against, and running it again would repeat its side
                    # effects (an e-mail sent twice, or to an address edited into the file).
                    settled.append(inv.invocation_id)
                    continue
                divergence = self._replay_invocation(runtime, snap)
                counts[0] += 1
                counts[1] += operations
                if divergence is not None:
                    return ReplayResult(
                        workflow_id, counts[0], counts[1], divergence, skipped, settled
                    )
            pending.extend(w.workflow_id for w in store.child_workflows(current))
        return ReplayResult(workflow_id, counts[0], counts[1], None, skipped, settled)

    def replay_file(self, path: str | os.PathLike[str]) -> ReplayResult:
        """Replay an exported history file."""
        store, root = import_history(Path(path).read_bytes(), source=str(path))
        return self.replay(store, root)

    def _replay_invocation(self, runtime: Runtime, snap: Snapshot) -> Divergence | None:
        inv = snap.invocation
        try:
            spec = self._lookup(inv.task_name)
        except (KeyError, ConfigurationError):
            return _divergence(inv, None, f"task {inv.task_name!r}", "no such task in the code")
        ctx = WorkflowContext(runtime, snap, strict=True)
        token = _current.set(ctx)
        error: BaseException | None = None
        value: Any = None
        try:
            args, kwargs = self.codec.decode(inv.args, what=f"arguments of {inv.invocation_id!r}")
            value = call_body(ctx, spec, args, kwargs)
        except BaseException as exc:  # every way out of user code is compared below
            error = exc
        finally:
            _current.reset(token)
        error = ctx._fatal or error
        if isinstance(error, NonDeterminismError):
            return _from_error(inv, error)
        if isinstance(error, _Suspend):
            return self._check_suspension(ctx, inv, error)
        if isinstance(error, _ContinueAsNew):
            # The outcome a continuation records (see wfcore.engine.continuing).
            first, run = run_of(inv.invocation_id)
            error, value = None, continued_run(run_invocation_id(first, run + 1), run + 1)
        leftover = ctx._leftover()
        if leftover is not None:
            return _from_error(inv, leftover)
        return self._check_outcome(inv, value, error)

    def _check_suspension(
        self, ctx: WorkflowContext, inv: InvocationRecord, signal: _Suspend
    ) -> Divergence | None:
        recorded = f"suspended waiting on {list(inv.waiting)}"
        attempted = f"suspended waiting on {list(signal.seqs)}"
        if inv.status is WorkflowStatus.SUSPENDED and tuple(signal.seqs) == inv.waiting:
            leftover = ctx._leftover()
            return None if leftover is None else _from_error(inv, leftover)
        return _divergence(
            inv,
            ctx._seq,
            recorded if inv.status is WorkflowStatus.SUSPENDED else f"finished {inv.status.value}",
            attempted,
            signal,
        )

    def _check_outcome(
        self, inv: InvocationRecord, value: Any, error: BaseException | None
    ) -> Divergence | None:
        if inv.outcome is None:
            return _divergence(inv, None, f"{inv.status.value} without outcome", "finished")
        recorded = decode_outcome(self.codec, inv.outcome, f"invocation {inv.invocation_id!r}")
        if error is None:
            try:
                now = self.codec.decode(self.codec.encode(value), what="replayed result")
            except WfError as exc:
                return _divergence(inv, None, _describe(recorded), f"unstorable result: {exc}")
            if recorded.status is WorkflowStatus.COMPLETED and recorded.value == now:
                return None
            return _divergence(inv, None, _describe(recorded), f"completed with {now!r:.200}")
        if isinstance(error, WorkflowCancelled):
            if recorded.status is WorkflowStatus.CANCELLED:
                return None
            return _divergence(inv, None, _describe(recorded), "cancelled", error)
        type_name, message, _ = error_info(error)
        if recorded.status is WorkflowStatus.FAILED:
            r_type, r_message, _ = error_info(recorded.value)
            if (r_type, r_message) == (type_name, message):
                return None
        return _divergence(inv, None, _describe(recorded), f"failed {type_name}: {message}", error)


def _describe(outcome: Any) -> str:
    if outcome.status is WorkflowStatus.COMPLETED:
        return f"completed with {outcome.value!r:.200}"
    type_name, message, _ = error_info(outcome.value)
    return f"{outcome.status.value.lower()} {type_name}: {message}"


def _from_error(inv: InvocationRecord, error: NonDeterminismError) -> Divergence:
    return Divergence(
        inv.workflow_id,
        inv.invocation_id,
        inv.task_name,
        error.seq,
        error.recorded,
        error.attempted,
        error.message,
        _source_of(error),
    )


def _divergence(
    inv: InvocationRecord,
    seq: int | None,
    recorded: str,
    attempted: str,
    error: BaseException | None = None,
) -> Divergence:
    message = (
        f"invocation {inv.invocation_id!r} (task {inv.task_name!r}) of workflow "
        f"{inv.workflow_id!r}: recorded {recorded}, the code now {attempted}"
    )
    source = None if error is None else _source_of(error)
    return Divergence(
        inv.workflow_id, inv.invocation_id, inv.task_name, seq, recorded, attempted, message, source
    )


def _source_of(error: BaseException) -> str | None:
    """``file:line`` of the innermost frame outside wfcore: the user's call."""
    found = None
    for frame in traceback.extract_tb(error.__traceback__):
        if not os.path.abspath(frame.filename).startswith(_PACKAGE_DIR):
            found = f"{frame.filename}:{frame.lineno}"
    return found


def _mapping_lookup(tasks: Mapping[str, TaskSpec]) -> Callable[[str], TaskSpec]:
    def lookup(name: str) -> TaskSpec:
        return tasks[name]

    return lookup


class NoDispatch:
    """A dispatcher that must never be used: replays dispatch nothing."""

    def enqueue(self, ref: InvocationRef) -> None:
        raise ReplayWriteError(f"a strict replay tried to dispatch {ref}")

    def wake(self, ref: InvocationRef, delay: float) -> None:
        raise ReplayWriteError(f"a strict replay tried to wake {ref}")


class ReadOnlyStore(DelegatingStore):
    """A store view that reads through and refuses every write."""

    def _refuse(self, what: str) -> ReplayWriteError:
        return ReplayWriteError(f"a strict replay tried to {what}; replays never write")

    def create_workflow(
        self, workflow: WorkflowRecord, root: InvocationRecord, *, push: QueuePush | None = None
    ) -> tuple[WorkflowRecord, bool]:
        raise self._refuse("create a workflow")

    def load(self, workflow_id: str, invocation_id: str, *, claim: bool = True) -> Snapshot | None:
        return self.inner.load(workflow_id, invocation_id, claim=False)

    def commit(self, workflow_id: str, invocation_id: str, batch: Batch) -> CommitResult:
        raise self._refuse("commit")

    def record_outcome(
        self, workflow_id: str, invocation_id: str, seq: int, outcome: bytes
    ) -> OutcomeResult:
        raise self._refuse("record an outcome")

    def send_signal(
        self, workflow_id: str, name: str, payload: bytes, *, signal_id: str | None = None
    ) -> SignalResult:
        raise self._refuse(f"send signal {name!r} to workflow {workflow_id!r}")

    def request_cancel(self, workflow_id: str) -> WorkflowRecord | None:
        raise self._refuse("cancel")

    def recover_candidates(
        self, *, older_than: float, now: float, limit: int = 100
    ) -> list[InvocationRecord]:
        raise self._refuse("claim recovery candidates")

    def heartbeat(self, refs: Sequence[InvocationRef], now: float) -> None:
        raise self._refuse("heartbeat")

    def purge_expired(self, now: float) -> int:
        raise self._refuse("purge")

    def purge_finished(self, workflow_ids: Sequence[str], before: float) -> int:
        raise self._refuse("purge")

    def reopen(
        self,
        workflow_id: str,
        changes: Sequence[Reopen],
        *,
        statuses: Collection[WorkflowStatus],
    ) -> WorkflowRecord | None:
        raise self._refuse("reopen a workflow")

    def create_fork(
        self,
        workflow: WorkflowRecord,
        root: InvocationRecord,
        entries: Sequence[bytes],
        outcomes: Mapping[int, bytes],
        data: Mapping[str, bytes],
    ) -> tuple[WorkflowRecord, bool]:
        raise self._refuse("fork a workflow")

    def close(self) -> None:
        """The wrapped store belongs to the caller."""
