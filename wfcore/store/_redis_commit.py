"""A ``RedisStore``'s writes within a running workflow: ``commit`` (one script plus the index
writes around it) and ``record_outcome``."""

from __future__ import annotations

import math
import time
from typing import Any

from wfcore._models import Batch, CommitResult, OutcomeResult, WorkflowStatus
from wfcore.errors import WorkflowNotFoundError
from wfcore.store import _redis_scripts as layout
from wfcore.store import refuse_batch_pushes, suspend_slack
from wfcore.store._redis_connection import Command, RedisConnection, active_member

__all__ = ["RedisCommits"]


class RedisCommits(RedisConnection):
    """Commits of an invocation's progress and outcomes recorded for a parent."""

    def commit(self, workflow_id: str, invocation_id: str, batch: Batch) -> CommitResult:
        """Apply ``batch`` atomically if the history still holds ``batch.base_seq`` entries.

        Raises:
            WorkflowNotFoundError: the invocation does not exist.
        """
        if self._cluster is not None:  # the broker's keys are in other slots (writes_pushes)
            refuse_batch_pushes(self, batch)
        base = self._base(workflow_id)
        now = time.time()
        mode = status = waiting = expires = expires_ms = ""
        outcome = b""
        expires_at: float | None = None
        if batch.finish is not None:
            mode, status, outcome = "finish", batch.finish.status.value, batch.finish.outcome
            if self._retention is not None and batch.finish.status.finished:
                expires_at = now + self._retention
                expires, expires_ms = repr(expires_at), str(math.ceil(expires_at * 1000))
            if batch.continue_with is not None:
                mode, expires_at, expires = "continue", None, batch.continue_with
        elif batch.suspend is not None:
            mode, waiting = "suspend", ",".join(str(int(seq)) for seq in batch.suspend)
            status = str(suspend_slack(batch))  # the finish status's place is free here
        keys = [base + "wf", base + "invs", base + "inv:" + invocation_id]
        keys += [base + "h:" + invocation_id, base + "o:" + invocation_id, base + "data"]
        children: list[str | bytes | int] = []
        for child in batch.children:
            keys.append(base + "inv:" + child.invocation_id)
            fields = layout.invocation_fields(child)
            children += [child.invocation_id, len(fields), *fields]
        parent_id = parent_seq = ""
        if mode == "finish" and batch.parent is not None:
            parent_id, parent_seq = batch.parent.invocation_id, str(batch.parent.seq)
            keys += [base + "inv:" + parent_id, base + "o:" + parent_id]
        pushes = list(batch.pushes)
        extra = batch.parent_push if parent_id else None
        if mode == "suspend":
            extra = batch.suspend_push
        if extra is not None:
            pushes.append(extra)
        messages: list[str | bytes] = []
        for push in pushes:
            keys += [push.queue, push.messages]
            messages += [push.message_id, push.data]
        receipt = batch.receipt
        if receipt is not None:
            keys += [receipt.acks, receipt.messages]
        data = [item for pair in batch.data.items() for item in pair]
        args: list[Any] = [base, repr(now), invocation_id, batch.base_seq, mode, status, outcome]
        args += [waiting, expires, expires_ms, parent_id, parent_seq]
        args += [len(batch.entries), len(data), len(batch.children), len(batch.pushes)]
        args += ["1" if extra is not None else "", *batch.entries, *data]
        args += [*children, *messages, "" if receipt is None else receipt.message_id]
        take = batch.signal
        args += ["", "", ""] if take is None else [take.name, take.seq, "1" if take.wait else ""]
        # Only a finishing root sets the expiry; skip the index write when we know it is not.
        index_expiry = expires_at is not None
        index_expiry &= self._roots.get(workflow_id, invocation_id) == invocation_id
        # Index writes that must precede the script (an entry before the state it points at:
        # a crash in between leaves a spurious entry, which its sweeper drops, never an
        # unindexed record) and ones that must follow it.
        before: list[Command] = []
        after: list[Command] = []
        if index_expiry:
            # A crash in between leaves a spurious candidate, which purge_expired drops,
            # rather than an expiring workflow nobody would un-index.
            before.append(("ZADD", self._ix(workflow_id, "expiry"), repr(expires_at), workflow_id))
        active = self._ix(workflow_id, "active")  # this workflow's shard of the index
        if batch.children:
            scored = [repr(float(child.updated_at)) for child in batch.children]
            members = [active_member(workflow_id, child.invocation_id) for child in batch.children]
            pairs = [item for pair in zip(scored, members, strict=True) for item in pair]
            before.append(("ZADD", active, "NX", *pairs))
        member = active_member(workflow_id, invocation_id)
        if batch.finish is not None and batch.finish.status.finished:
            after.append(("ZREM", active, member))
        elif batch.finish is not None:
            after.append(("ZADD", active, repr(now), member))
        elif batch.suspend is not None:
            # Only ensures the entry: a refused suspension leaves updated_at alone, so the
            # score must not move to now (it would hide the invocation from sweeps).
            before.append(("ZADD", active, "NX", repr(now), member))
        with self._calls():
            if not before and not after:
                reply = self._script(self._commit, keys=keys, args=args)
            else:
                evalsha = ("EVALSHA", self._commit.sha, len(keys), *keys, *args)
                reply = self._pipeline([*before, evalsha, *after])[len(before)]
        if not reply:
            if index_expiry:  # no such invocation: take back the expiry candidate
                with self._calls():
                    self._script(
                        self._drop,
                        keys=[self._ix(workflow_id, "expiry")],
                        args=[workflow_id, repr(expires_at)],
                    )
            raise WorkflowNotFoundError(
                f"invocation {invocation_id!r} of workflow {workflow_id!r} is not in the store; "
                "it was never created or its retention has passed"
            )
        ok, cancel, winners, ready, *state = reply
        if ok != 1 and after and state and state[0][0] is not None:
            status, updated_at = state[0]
            if not WorkflowStatus(status.decode()).finished:
                # This batch lost, so its index write was wrong: put the entry back as the
                # invocation really is.
                with self._calls():
                    self._call("ZADD", active, updated_at, member)
        if ok != 1:
            return CommitResult(ok=False, cancel_requested=cancel == 1, winners=list(winners))
        if batch.continue_with is not None:
            self._roots[workflow_id] = batch.continue_with
        told = None
        if state[1] is not None:
            recorded, wake = state[1]
            told = OutcomeResult(recorded=recorded == 1, wake=wake == 1)
        return CommitResult(
            ok=True,
            ready=ready == 1,
            cancel_requested=cancel == 1,
            parent=told,
            pushed=state[2] == 1,
            signal=state[3],
            acked=state[4] == 1,
        )

    def record_outcome(
        self, workflow_id: str, invocation_id: str, seq: int, outcome: bytes
    ) -> OutcomeResult:
        """Record the outcome awaited at ``seq`` and decide, atomically, whether to wake."""
        base = self._base(workflow_id)
        keys = [base + "wf", base + "inv:" + invocation_id, base + "o:" + invocation_id]
        with self._calls():
            recorded, wake = self._script(
                self._record, keys=keys, args=[int(seq), outcome, repr(time.time()), invocation_id]
            )
        return OutcomeResult(recorded=recorded == 1, wake=wake == 1)
