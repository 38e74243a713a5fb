"""A ``RedisStore``'s repairs: ``reopen`` (a resume) and ``create_fork`` (a fork), each one
script in the workflow's slot plus the index writes around it."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from wfcore._models import InvocationRecord, Reopen, WorkflowRecord, WorkflowStatus
from wfcore.store import _redis_scripts as layout
from wfcore.store._redis_connection import Command, RedisConnection, active_member

__all__ = ["RedisRepair"]


class RedisRepair(RedisConnection):
    """Reopening finished invocations and creating forks with their recorded history."""

    def reopen(
        self,
        workflow_id: str,
        changes: Sequence[Reopen],
        *,
        statuses: Collection[WorkflowStatus],
    ) -> WorkflowRecord | None:
        """Take finished invocations back to PENDING in one script (see ``StateStore``)."""
        base = self._base(workflow_id)
        now = repr(time.time())
        allowed = "," + ",".join(status.value for status in statuses) + ","
        keys = [base + "wf"]
        args: list[Any] = [base, now, allowed, len(changes)]
        tail: list[Any] = []
        for change in changes:
            iid = change.invocation_id
            keys += [base + "inv:" + iid, base + "h:" + iid, base + "o:" + iid]
            tail += [change.length, len(change.rewrite), len(change.append), len(change.forget)]
            tail += [item for pair in change.rewrite.items() for item in pair]
            tail += [*change.append, *change.forget]
        # The active-index entries first (an entry before the state it points at: were the
        # script refused, the sweep drops entries of finished invocations).
        members = [
            item for c in changes for item in (now, active_member(workflow_id, c.invocation_id))
        ]
        commands: list[Command] = []
        if members:
            commands.append(("ZADD", self._ix(workflow_id, "active"), *members))
        commands.append(("EVALSHA", self._reopen.sha, len(keys), *keys, *args, *tail))
        with self._calls():
            reply = self._pipeline(commands)[-1]
            if not reply:
                return None
            # No longer finished: out of the retention purge's index.
            self._call("ZREM", self._ix(workflow_id, "expiry"), workflow_id)
        return layout.workflow_from(layout.pairs(reply))

    def create_fork(
        self,
        workflow: WorkflowRecord,
        root: InvocationRecord,
        entries: Sequence[bytes],
        outcomes: Mapping[int, bytes],
        data: Mapping[str, bytes],
    ) -> tuple[WorkflowRecord, bool]:
        """Create a workflow with a recorded root history in one script."""
        wid = workflow.workflow_id
        base = self._base(wid)
        score = repr(float(workflow.created_at))
        member = active_member(wid, root.invocation_id)
        commands: list[Command] = [
            ("ZADD", self._ix(wid, "all"), "NX", score, wid),
            ("ZADD", self._ix(wid, "type:" + workflow.workflow_type), "NX", score, wid),
            ("HSETNX", self._ix(wid, "types"), wid, workflow.workflow_type),
            ("ZADD", self._ix(wid, "active"), "NX", repr(float(root.updated_at)), member),
        ]
        wf_fields = layout.workflow_fields(workflow)
        inv_fields = layout.invocation_fields(root)
        outcome_items = [item for seq, value in outcomes.items() for item in (seq, value)]
        data_items = [item for pair in data.items() for item in pair]
        keys = [base + "wf", base + "invs", base + "inv:" + root.invocation_id]
        keys += [base + "h:" + root.invocation_id, base + "o:" + root.invocation_id, base + "data"]
        args: list[Any] = [len(wf_fields), len(inv_fields), len(entries)]
        args += [len(outcome_items), len(data_items), *wf_fields, root.invocation_id]
        args += [*inv_fields, *entries, *outcome_items, *data_items]
        commands.append(("EVALSHA", self._create_fork.sha, len(keys), *keys, *args))
        with self._calls():
            replies = self._pipeline(commands)
        created = replies[-1][0] == 1
        stored = workflow if created else layout.workflow_from(layout.pairs(replies[-1][1]))
        self._remember_root(stored)
        if not created and replies[3] and stored.status.finished:
            with self._calls():  # indexed a finished fork's root again: take it back
                self._call("ZREM", self._ix(wid, "active"), member)
        return stored, created
