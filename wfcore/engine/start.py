"""Starting workflows: ids checked or derived, records created, the first run enqueued."""

from __future__ import annotations

import re
from typing import Any

from wfcore._durations import deadline_after
from wfcore._identity import (
    is_derived_workflow_id,
    is_run_invocation_id,
    new_workflow_id,
    new_workflow_seed,
    run_of,
    workflow_id_for_key,
)
from wfcore._models import InvocationRecord, WorkflowRecord
from wfcore._tasks import TaskSpec
from wfcore.engine.base import EngineBase
from wfcore.errors import CodecError, ConfigurationError

__all__ = ["Starting"]

_MAX_ID = 200
_BAD_ID = re.compile(r"[{}\s\x00-\x1f]")


class Starting(EngineBase):
    """Creates a workflow and its root invocation, idempotently by id or key."""

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
            _check_not_derived(workflow_id)
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
            seed=new_workflow_seed(),
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
        if not created:
            self._check_same_start(stored, spec, args_blob, idempotency_key)
        if created:
            if delay:
                self.dispatcher.wake(root.ref, delay)
            elif not self._written(push):
                self.dispatcher.enqueue(root.ref)
        return stored, created

    def _check_same_start(
        self, stored: WorkflowRecord, spec: TaskSpec, args: bytes, key: str | None
    ) -> None:
        """A start that found its workflow already there: the same task and arguments (it
        then returns that workflow), or a clear error. Reads only on this duplicate path."""
        wid = stored.workflow_id
        named = f"idempotency key {key!r} (workflow {wid!r})" if key else f"workflow {wid!r}"
        if stored.workflow_type != spec.name:
            raise ConfigurationError(
                f"{named} already exists as a {stored.workflow_type!r} workflow; "
                f"it cannot be started again as {spec.name!r}. Use another id or key"
            )
        # The first run's root: wf.continue_as_new gives later runs other arguments.
        first_root = run_of(stored.root_invocation_id)[0]
        first = self.store.get_invocation(wid, first_root)
        if first is None or first.args == args or self._same_values(first.args, args):
            return
        raise ConfigurationError(
            f"{named} was already started with other arguments; a second start with the "
            "same id or key returns the first workflow, so it must pass the same arguments. "
            "Use a new id or key for new arguments"
        )

    def _same_values(self, stored: bytes, new: bytes) -> bool:
        """Equal arguments encoded differently (keyword arguments in another order)."""
        try:
            return bool(self.codec.decode(stored) == self.codec.decode(new))
        except CodecError:
            return False


def _check_not_derived(workflow_id: str) -> None:
    if is_run_invocation_id(workflow_id):
        # The first run's root invocation id is the workflow id: this one would read as a
        # later run of "<first>" (wrong run numbers, a second start's check on the wrong run).
        raise ConfigurationError(
            f"workflow_id {workflow_id!r} ends in '~run' + digits, the form wfcore gives the "
            "root invocations of a workflow's later runs (wf.continue_as_new), which is "
            "reserved: choose an id without that ending"
        )
    if is_derived_workflow_id(workflow_id):
        raise ConfigurationError(
            f"workflow_id {workflow_id!r} has the form of the ids wfcore derives from "
            "idempotency keys, for child workflows and for forks ('idem-' + 32 hex digits, 'wf' "
            "+ 30 hex digits, 'fork-' + 32 hex digits), which are reserved: to start by key "
            "pass idempotency_key=, otherwise "
            "choose an id of another form"
        )


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
