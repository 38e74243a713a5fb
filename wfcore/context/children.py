"""Children of an invocation: ``wf.start_task``, ``execute_task`` and ``wait``, the handle
``start_task`` returns, the children's records and their results."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from wfcore._durations import deadline_after
from wfcore._history import CANCELLED_PREFIX, Kind, Outcome, encode_entry, error_info
from wfcore._identity import child_invocation_id, child_workflow_id, new_workflow_seed
from wfcore._models import (
    InvocationRecord,
    InvocationRef,
    WorkflowIdentity,
    WorkflowRecord,
    WorkflowStatus,
)
from wfcore._tasks import TaskResult, TaskSpec
from wfcore.context.aio_loop import DeterministicLoop, Wait
from wfcore.context.awaiting import Awaiting
from wfcore.context.runtime import _Suspend
from wfcore.errors import ConfigurationError, TaskFailedError

__all__ = ["Children", "TaskHandle", "child_records", "child_result"]


class TaskHandle:
    """A child started with ``wf.start_task``; ``result()`` waits for it."""

    __slots__ = ("_ctx", "invocation_id", "seq", "task_name", "workflow")

    def __init__(
        self,
        ctx: Children,
        seq: int,
        invocation_id: str,
        task_name: str,
        workflow: WorkflowIdentity,
    ) -> None:
        self._ctx = ctx
        self.seq = seq
        self.invocation_id = invocation_id
        self.task_name = task_name
        self.workflow = workflow

    def result(self) -> Any:
        """The child's return value; suspends the caller until it is there (awaitable in an
        async workflow body: ``await handle.result()``).

        Raises:
            TaskFailedError: the child failed permanently.
        """
        ctx = self._ctx
        if ctx._aio is not None:
            ctx._check()
            return ctx._wait_future(ctx._loop(), (self.seq,), lambda: ctx._task_result(self).result)
        return ctx.wait(self)[0].result

    def __repr__(self) -> str:
        return f"TaskHandle({self.task_name!r}, invocation_id={self.invocation_id!r})"


def child_records(
    parent: InvocationRecord,
    parent_workflow: WorkflowIdentity,
    seq: int,
    spec: TaskSpec,
    args: bytes,
    *,
    now: float,
    shielded: bool,
) -> tuple[InvocationRecord, WorkflowRecord | None]:
    """The record of the child ``parent`` starts at ``seq``, and, for a ``force_new_workflow``
    task, the record of the child workflow it roots (its id derived from the child's)."""
    inv_id = child_invocation_id(parent.invocation_id, seq)
    workflow_id = parent_workflow.workflow_id
    if spec.force_new_workflow:
        workflow_id = child_workflow_id(inv_id)
    child = InvocationRecord(
        invocation_id=inv_id,
        workflow_id=workflow_id,
        task_name=spec.name,
        args=args,
        parent_workflow_id=parent_workflow.workflow_id,
        parent_invocation_id=parent.invocation_id,
        parent_seq=seq,
        parent_task_name=parent.task_name,
        cancel_shielded=shielded,
        created_at=now,
        updated_at=now,
    )
    if not spec.force_new_workflow:
        return child, None
    workflow = WorkflowRecord(
        deadline=deadline_after(now, spec.max_duration),
        workflow_id=workflow_id,
        workflow_type=spec.name,
        parent_workflow_id=parent_workflow.workflow_id,
        root_workflow_id=parent_workflow.root_workflow_id,
        root_invocation_id=inv_id,
        parent_invocation_id=parent.invocation_id,
        created_at=now,
        updated_at=now,
        # Its own secret, not one derived from the parent's: two racing parents build two
        # records and only the first is stored; every run of the child reads its seed from
        # the stored record, so whichever won is the one all its values come from.
        seed=new_workflow_seed(),
    )
    return child, workflow


def child_result(decoded: Outcome, handle: TaskHandle) -> TaskResult:
    """What waiting on ``handle`` gives, from the child's recorded outcome.

    Raises:
        TaskFailedError: the child failed or was cancelled.
    """
    if decoded.status is WorkflowStatus.COMPLETED:
        return TaskResult(decoded.value, handle.workflow, handle.invocation_id, handle.task_name)
    error_type, message, traceback = error_info(decoded.value)
    raise TaskFailedError(
        f"child task {handle.task_name!r} (invocation {handle.invocation_id!r}) "
        f"{decoded.status.value.lower()}: {error_type}: {message}",
        task_name=handle.task_name,
        invocation_id=handle.invocation_id,
        error_type=error_type,
        error_message=message,
        traceback=traceback,
    )


class Children(Awaiting):
    """Starts children (recorded, sent after the commit that records them) and waits."""

    def start_task(self, task: object, *args: Any, **kwargs: Any) -> TaskHandle:
        """Start a child invocation of ``task`` and return a handle without waiting.

        A task declared with ``force_new_workflow=True`` starts a child workflow; any other
        joins this workflow. Children are keyed by position: two identical calls are two
        children.
        """
        spec = self._rt.resolve(task)
        seq = self._seq
        entry = self._replay(Kind.START_TASK, spec.name)
        if entry is not None:
            inv_id, wf_id, wf_type, parent_wf, root_wf = entry.value
            identity = WorkflowIdentity(wf_id, wf_type, parent_wf, root_wf)
            return TaskHandle(self, seq, inv_id, spec.name, identity)
        return self._start_child(seq, spec, args, kwargs)

    def execute_task(self, task: object, *args: Any, **kwargs: Any) -> TaskResult:
        """Run ``task`` as a child and wait for it: ``start_task(...)`` then ``wait``. In an
        async workflow body, ``await wf.execute_task(...)``.

        Raises:
            TaskFailedError: the child failed permanently.
        """
        if self._aio is not None:
            aio = self._loop()  # refused before anything is recorded in a plain async task
            handle = self.start_task(task, *args, **kwargs)
            return self._wait_future(aio, (handle.seq,), partial(self._task_result, handle))  # type: ignore[no-any-return]
        seq = self._seq
        done = self._finished.get(seq)
        # Replayed as an earlier run of this history did (same task, same outcome, no
        # cancellation recorded at the wait): move past it, as start_task and wait would,
        # without their work. Inline: a resume runs this once per earlier child.
        if (
            done is not None
            and done[0] is task
            and self._outcomes.get(seq) is done[1]
            and not self._fatal
        ):
            after = seq + 1
            entries = self._entries
            # Past the history's end the wait is where it stopped: the full path decides.
            if after < len(entries) and not entries[after].startswith(CANCELLED_PREFIX):
                stopped_at = self._suspended_on  # what _waited((seq,)) does
                if stopped_at is not None and seq in stopped_at:
                    self._suspended_on = None
                self._seq = after
                return done[2]  # type: ignore[no-any-return]
        result = self.wait(self.start_task(task, *args, **kwargs))[0]
        data = self._outcomes[seq]
        replayed = seq < len(self._shared) and self._shared[seq] is not None
        if replayed and self._results.get(seq, (None,))[0] is data:
            # Replays of this history return this result again (see the fast path above).
            self._finished[seq] = (task, data, result)
            # From now on the fast path moves past it: what the full path decoded can go (a
            # history of N children would otherwise hold ~10 N more objects, and free them
            # all in its last run).
            self._shared[seq] = None
            del self._results[seq]
        return result

    def wait(self, *handles: TaskHandle) -> list[TaskResult]:
        """Wait for every handle; suspends once until all are done, then returns in order.
        In an async workflow body, ``await wf.wait(...)`` (resumed once all are done).

        Raises:
            TaskFailedError: one of the children failed permanently (the first in order).
        """
        self._check()
        aio = None if self._aio is None else self._loop()
        for handle in handles:
            if not isinstance(handle, TaskHandle) or handle._ctx is not self:
                raise ConfigurationError(
                    "wf.wait takes handles returned by this invocation's start_task, "
                    f"got {handle!r}"
                )
        if aio is not None:
            if not handles:
                return aio.resolved([])  # type: ignore[return-value]
            return self._wait_future(  # type: ignore[no-any-return]
                aio, [h.seq for h in handles], lambda: [self._task_result(h) for h in handles]
            )
        # A pending cancellation wins over results, even ones already there (children it
        # cancelled end CANCELLED): the workflow sees WorkflowCancelled, as it would have
        # had it suspended first.
        self._cancel_point()
        # Distinct: a store counts each awaited position once.
        missing = list(dict.fromkeys(h.seq for h in handles if h.seq not in self._outcomes))
        if missing:
            self._fatal = _Suspend(missing)
            raise self._fatal
        self._waited([h.seq for h in handles])
        return [self._task_result(h) for h in handles]

    def _wait_future(
        self, aio: DeterministicLoop, seqs: Sequence[int], finish: Callable[[], Any]
    ) -> Any:
        """An async body's wait on children: delivered at an idle point (or when awaited, see
        ``DeterministicLoop.settle``) once every one is done, with ``finish()``."""
        future = aio.wait_future()
        aio.add_wait(Wait(seqs, finish, future=future))
        return future

    def _start_child(
        self, seq: int, spec: TaskSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> TaskHandle:
        rt = self._rt
        encoded_args = rt.codec.encode(
            [list(args), kwargs], what=f"arguments of task {spec.name!r}"
        )
        shielded = self._cancel_delivered or self._invocation.cancel_shielded
        child, workflow = child_records(
            self._invocation,
            self.workflow,
            seq,
            spec,
            encoded_args,
            now=rt.clock(),
            shielded=shielded,
        )
        identity = self.workflow if workflow is None else workflow.identity
        value = [child.invocation_id, *_identity_fields(identity)]
        entry = encode_entry(
            rt.codec, Kind.START_TASK, spec.name, True, value, f"start_task({spec.name!r})"
        )
        if workflow is not None:
            # Created before the parent records the start: a crash in between leaves an
            # unreferenced PENDING workflow (recovered or harmless), never a dangling start.
            # A creation that raises (the store unavailable) appends nothing, so the failed
            # run's retry commit cannot record a start of a child that does not exist.
            rt.store.create_workflow(workflow, child)
        else:
            self._new_children.append(child)
        self._append(entry)
        # Sent after the next commit (a wait's suspension, a step, completion) records the
        # start: back-to-back starts and execute_task cost one write, and no message can run
        # a child its parent has not recorded.
        self._to_dispatch.append(
            InvocationRef(identity.workflow_id, child.invocation_id, spec.name)
        )
        return TaskHandle(self, seq, child.invocation_id, spec.name, identity)

    def _task_result(self, handle: TaskHandle) -> TaskResult:
        outcome = self._outcome_at(handle.seq, f"child {handle.invocation_id!r}")
        return child_result(outcome, handle)


def _identity_fields(identity: WorkflowIdentity) -> list[str | None]:
    return [
        identity.workflow_id,
        identity.workflow_type,
        identity.parent_workflow_id,
        identity.root_workflow_id,
    ]
