"""Forks: a new workflow whose root history is a recorded prefix of another's; everything
from the fork point runs again, on the current code, with fresh children."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from wfcore._durations import deadline_after
from wfcore._history import Entry, Kind, decode_outcome, encode_lifecycle
from wfcore._identity import fork_workflow_id, new_workflow_seed
from wfcore._models import InvocationRecord, Snapshot, WorkflowRecord, WorkflowStatus
from wfcore.engine.outcomes import Outcomes
from wfcore.engine.prefix import check_prefix, operations, refused
from wfcore.errors import ConfigurationError, RepairError

__all__ = ["Forking"]

_FAILED = frozenset({WorkflowStatus.FAILED, WorkflowStatus.CANCELLED})
_MAX_FORK_ID = 200


class Forking(Outcomes):
    """``fork``: a workflow started from a recorded prefix of another's root history."""

    def fork(
        self,
        workflow_id: str,
        *,
        from_seq: int | None = None,
        from_failure: bool = False,
        from_step: str | None = None,
        fork_id: str | None = None,
    ) -> tuple[WorkflowRecord, bool]:
        """Start a new workflow from the recorded prefix of ``workflow_id``'s root history.

        The fork (id derived from the original's and ``fork_id``; lineage ``forked_from``)
        replays the original's root operations before the fork point with their recorded
        values and child outcomes (children started there are referenced, never run again)
        and runs everything from the fork point on the current code, with new children.
        Its data is rebuilt from the ``set_data`` operations of that prefix and of the
        children it keeps. Exactly one selector names the fork point.

        Args:
            from_seq: the fork point: seqs from here on run again (0 to the number of
                operations the root recorded).
            from_failure: fork at the first failed operation (a step that raised, a child
                that failed or was cancelled, a delivered cancellation); for a workflow that
                failed after its last operation, at the end of its history.
            from_step: fork at the last ``wf.deterministic`` step or child task of this name.
            fork_id: names the request: the same ``fork_id`` for the same workflow returns
                the same fork (created once); None forks anew on every call.

        Returns:
            The fork as stored and whether this call created it.

        Raises:
            WorkflowNotFoundError: there is no such workflow.
            ConfigurationError: not exactly one selector, a seq out of range, a step never
                recorded, a ``fork_id`` reused for another fork point.
            RepairError: the prefix holds a child that has not finished.
            NonDeterminismError: the current code does not replay the prefix (nothing
                written; a fork point at or before the divergence works).
        """
        chosen = [from_seq is not None, bool(from_failure), from_step is not None]
        if sum(chosen) != 1:
            raise ConfigurationError(
                "fork needs exactly one of from_seq=N, from_failure=True or from_step='name'; "
                f"got {sum(chosen)}"
            )
        if fork_id is not None and (
            not isinstance(fork_id, str) or not fork_id or len(fork_id) > _MAX_FORK_ID
        ):
            raise ConfigurationError(
                f"fork_id must be a non-empty str of at most {_MAX_FORK_ID} characters, "
                f"got {fork_id!r:.60}"
            )
        record = self.workflow(workflow_id)
        snap = self.store.load(workflow_id, record.root_invocation_id, claim=False)
        if snap is None:
            raise RepairError(f"workflow {workflow_id!r} has no root invocation to fork")
        where = f"root invocation of workflow {workflow_id!r}"
        positions, ops = operations(self.codec, snap, where)
        if from_seq is not None:
            seq = _checked_seq(workflow_id, from_seq, len(ops))
        elif from_step is not None:
            seq = _step_seq(workflow_id, from_step, ops)
        else:
            seq = self._failure_seq(record, snap, ops)
        fork = fork_workflow_id(workflow_id, fork_id if fork_id is not None else uuid.uuid4().hex)
        existing = self.store.get_workflow(fork)
        if existing is not None:
            return self._same_fork(existing, workflow_id, seq, fork_id), False
        for op in ops[:seq]:
            if op.kind == Kind.START_TASK and op.seq not in snap.outcomes:
                raise RepairError(
                    f"workflow {workflow_id!r}: the child {op.value[0]!r} ({op.name}) started at "
                    f"seq {op.seq} has not finished, so a fork from seq {seq} cannot reuse it; "
                    f"fork from seq {op.seq} or earlier, or once it has finished"
                )
        now = self.clock()
        spec = self.task(record.workflow_type)
        new = WorkflowRecord(
            workflow_id=fork,
            workflow_type=record.workflow_type,
            root_workflow_id=fork,
            root_invocation_id=fork,
            deadline=deadline_after(now, spec.max_duration),
            created_at=now,
            updated_at=now,
            seed=new_workflow_seed(),
            forked_from=workflow_id,
        )
        root = InvocationRecord(
            invocation_id=fork,
            workflow_id=fork,
            task_name=snap.invocation.task_name,
            args=snap.invocation.args,
            created_at=now,
            updated_at=now,
        )
        detail = {"workflow_id": workflow_id, "seq": seq}
        entries = [encode_lifecycle(self.codec, "forked_from", detail, 0)]
        entries += [snap.entries[p] for p in positions[:seq]]
        outcomes = {s: o for s, o in snap.outcomes.items() if s < seq}
        kept = Snapshot(new, root, entries, outcomes)
        check = check_prefix(self._tasks, self.codec, self.store, kept, self.resolve_task)
        if check.divergence is not None:
            raise refused(f"fork (from seq {seq})", workflow_id, check.divergence)
        data = self._data_as_of(record, ops[:seq])
        stored, created = self.store.create_fork(new, root, entries, outcomes, data)
        if created:
            self.dispatcher.enqueue(root.ref)
            return stored, True
        return self._same_fork(stored, workflow_id, seq, fork_id), False

    def _failure_seq(self, record: WorkflowRecord, snap: Snapshot, ops: Sequence[Entry]) -> int:
        where = f"root invocation of workflow {record.workflow_id!r}"
        for op in ops:
            if op.kind == Kind.CANCELLED or (op.kind == Kind.DETERMINISTIC and not op.ok):
                return op.seq
            outcome = snap.outcomes.get(op.seq)
            if (
                op.kind == Kind.START_TASK
                and outcome is not None
                and decode_outcome(self.codec, outcome, where).status in _FAILED
            ):
                return op.seq
        if record.status in _FAILED:
            return len(ops)  # it failed in its own code, after its last operation
        raise ConfigurationError(
            f"workflow {record.workflow_id!r} is {record.status.value} and recorded no failed "
            "operation, so from_failure has no position; fork it with from_seq= or from_step="
        )

    def _same_fork(
        self, fork: WorkflowRecord, workflow_id: str, seq: int, fork_id: str | None
    ) -> WorkflowRecord:
        """A repeated request found its fork: the same original and fork point, or an error."""
        snap = self.store.load(fork.workflow_id, fork.root_invocation_id, claim=False)
        first = None
        if snap is not None and snap.entries:
            first = self.codec.decode(snap.entries[0], what="lifecycle event")
        if (
            fork.forked_from == workflow_id
            and isinstance(first, list)
            and first[:1] == ["forked_from"]
            and isinstance(first[1], dict)
            and first[1].get("seq") == seq
        ):
            return fork
        raise ConfigurationError(
            f"fork_id {fork_id!r} of workflow {workflow_id!r} already names fork "
            f"{fork.workflow_id!r} from another fork point; a repeated request returns that "
            "fork, so it must ask for the same point. Use a new fork_id"
        )

    def _data_as_of(self, record: WorkflowRecord, prefix: Sequence[Entry]) -> dict[str, bytes]:
        """The workflow data the prefix wrote: its ``set_data`` operations and those of the
        children it keeps in the same workflow (data is not versioned, so it is rebuilt)."""
        writes = [(op.recorded_at, op.name, op.value) for op in prefix if op.kind == Kind.SET_DATA]
        pending = [
            op.value[0]
            for op in prefix
            if op.kind == Kind.START_TASK and op.value[1] == record.workflow_id
        ]
        while pending:
            snap = self.store.load(record.workflow_id, pending.pop(), claim=False)
            if snap is None:
                continue
            where = f"invocation {snap.invocation.invocation_id!r}"
            _, ops = operations(self.codec, snap, where)
            for op in ops:
                if op.kind == Kind.SET_DATA:
                    writes.append((op.recorded_at, op.name, op.value))
                elif op.kind == Kind.START_TASK and op.value[1] == record.workflow_id:
                    pending.append(op.value[0])
        writes.sort(key=lambda write: write[0])
        return {key: self.codec.encode(value, what=f"data {key!r}") for _, key, value in writes}


def _checked_seq(workflow_id: str, seq: object, count: int) -> int:
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= count:
        raise ConfigurationError(
            f"from_seq {seq!r} is outside the history of workflow {workflow_id!r}: its root "
            f"recorded {count} operations, so a fork point is an int from 0 to {count}"
        )
    return seq


def _step_seq(workflow_id: str, name: object, ops: Sequence[Entry]) -> int:
    named = (Kind.DETERMINISTIC, Kind.START_TASK)
    for op in reversed(ops):
        if op.kind in named and op.name == name:
            return op.seq
    seen = sorted({op.name for op in ops if op.kind in named})
    raise ConfigurationError(
        f"workflow {workflow_id!r} recorded no step or child task named {name!r}; "
        f"its root recorded: {', '.join(map(repr, seen)) or 'none'}"
    )
