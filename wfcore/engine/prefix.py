"""The check a repair makes before it writes: does the current code still replay the part
of a history that the resume or fork keeps?"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from wfcore._codec import Codec
from wfcore._current import _current
from wfcore._history import Entry, decode_entry, is_operation
from wfcore._models import Snapshot
from wfcore._replay import NoDispatch, ReadOnlyStore
from wfcore._tasks import TaskSpec, spec_of
from wfcore.context import Runtime, WorkflowContext
from wfcore.context.awaiting import call_body
from wfcore.context.runtime import _Suspend
from wfcore.errors import NonDeterminismError, TaskFailedError, WorkflowCancelled
from wfcore.store import StateStore

__all__ = ["PrefixCheck", "check_prefix", "operations", "refused"]

END_OF_HISTORY = "end of history"


@dataclass(frozen=True, slots=True)
class PrefixCheck:
    """What replaying a kept history with the current code found.

    Attributes:
        divergence: the code no longer matches the kept operations (nothing may be written).
        failed_child: the invocation id of the child whose recorded failure the code raised
            (from a wait), None when the code got past the history or failed by itself.
    """

    divergence: NonDeterminismError | None = None
    failed_child: str | None = None


def check_prefix(
    tasks: Callable[[str], TaskSpec],
    codec: Codec,
    store: StateStore,
    snapshot: Snapshot,
    resolve: Callable[[object], TaskSpec] = spec_of,
) -> PrefixCheck:
    """Replay ``snapshot`` (a history as a repair would keep it) strictly and without writes.

    The code must match every kept operation; reaching the end of the history (the code then
    asks for an operation the history does not hold, or waits on an outcome the repair
    forgets) is where the repaired run takes over, so it is fine. Code between operations runs
    again, as in ``verify_replay`` (``wf.is_replaying`` is True throughout). ``resolve`` is
    what ``wf.start_task`` accepts as a task (the engine's ``resolve_task``).
    """
    spec = tasks(snapshot.invocation.task_name)
    runtime = Runtime(ReadOnlyStore(store), codec, NoDispatch(), resolve=resolve)
    ctx = WorkflowContext(runtime, snapshot, strict=True)
    token = _current.set(ctx)
    error: BaseException | None = None
    try:
        args, kwargs = codec.decode(snapshot.invocation.args, what="arguments")
        call_body(ctx, spec, args, kwargs)
    except BaseException as exc:  # every way out of user code is classified below
        error = exc
    finally:
        _current.reset(token)
    error = ctx._fatal or error
    ctx._fatal = None
    if isinstance(error, NonDeterminismError):
        return PrefixCheck() if error.recorded == END_OF_HISTORY else PrefixCheck(error)
    if isinstance(error, _Suspend):
        return PrefixCheck()
    if isinstance(error, WorkflowCancelled):
        where = f"invocation {snapshot.invocation.invocation_id!r}"
        return PrefixCheck(
            NonDeterminismError(
                f"{where} has cleanup code that ran after its cancellation was recorded at "
                f"seq {ctx._seq - 1}; a resume cannot take that back. Fork it from a seq at "
                "or before the cancellation instead",
                workflow_id=snapshot.workflow.workflow_id,
                invocation_id=snapshot.invocation.invocation_id,
                seq=ctx._seq - 1,
                recorded="cancelled()",
                attempted="resume past the cancellation",
            )
        )
    leftover = ctx._leftover()
    if leftover is not None:
        return PrefixCheck(leftover)
    if isinstance(error, TaskFailedError):
        return PrefixCheck(failed_child=error.invocation_id)
    return PrefixCheck()


def operations(codec: Codec, snap: Snapshot, where: str) -> tuple[list[int], list[Entry]]:
    """The recorded operations of ``snap`` (decoded) and their positions among its entries."""
    positions = [i for i, data in enumerate(snap.entries) if is_operation(data)]
    return positions, [
        decode_entry(codec, s, snap.entries[p], where) for s, p in enumerate(positions)
    ]


def refused(what: str, workflow_id: str, error: NonDeterminismError) -> NonDeterminismError:
    """The error of a repair the current code's divergence refuses."""
    return NonDeterminismError(
        f"cannot {what} workflow {workflow_id!r}, nothing was written: {error.message}",
        workflow_id=error.workflow_id,
        invocation_id=error.invocation_id,
        seq=error.seq,
        recorded=error.recorded,
        attempted=error.attempted,
    )
