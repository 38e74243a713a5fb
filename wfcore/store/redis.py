"""``RedisStore``: the state store on Redis, one round trip per engine operation."""

from __future__ import annotations

import time
from typing import Any

from wfcore._models import InvocationRecord, QueuePush, Snapshot, WorkflowRecord
from wfcore.store import _redis_scripts as layout
from wfcore.store._redis_commit import RedisCommits
from wfcore.store._redis_connection import Command, active_member, hash_fields
from wfcore.store._redis_listing import RedisListing
from wfcore.store._redis_repair import RedisRepair
from wfcore.store._redis_signals import RedisSignals
from wfcore.store._redis_sweeps import RedisSweeps
from wfcore.store.incremental import HistoryDelta, HistoryMark, tail_start

__all__ = ["RedisStore"]


class RedisStore(RedisCommits, RedisListing, RedisSweeps, RedisSignals, RedisRepair):
    """A store on Redis (standalone or Cluster), safe to share between threads.

    Every key of one workflow carries the hash tag ``{workflow_id}``. Cross-workflow
    indexes (by creation time, by type, by expiry, and the unfinished invocations by last
    update) live outside those slots and are written by separate commands in the same round
    trip; the status indexes of the listing are written by the scripts that change a
    status, atomically with it (``_redis_listing``).

    Args:
        url: ``redis://[user:password@]host:port/db``, ``rediss://...`` (TLS) or
            ``unix:///path/to/socket``, optionally with ``?prefix=name&timeout=seconds``.
        prefix: namespace of every key; wins over ``?prefix=`` (default ``wfcore``).
        retention: seconds a finished workflow is kept; None keeps it forever.
        timeout: connect and command timeout in seconds; wins over ``?timeout=`` (default 5).

    Raises:
        ConfigurationError: the URL or an option is malformed.
    """

    writes_pushes = True
    """Commits and creations write queue messages (``Batch.pushes``, ``push=``) on this
    store's server, in the same script as the records."""

    # -- workflows -----------------------------------------------------------------------

    def create_workflow(
        self, workflow: WorkflowRecord, root: InvocationRecord, *, push: QueuePush | None = None
    ) -> tuple[WorkflowRecord, bool]:
        """Create a workflow and its root invocation unless ``workflow_id`` exists; with
        ``push``, write that message too, in the same script, only if this call creates it."""
        wid = workflow.workflow_id
        base = self._base(wid)
        score = float(workflow.created_at)
        commands: list[Command] = []
        marking = not self._status_checked  # read once: other threads may set it meanwhile
        if marking:
            # Once per store: a database without workflows yet gets its status indexes
            # marked complete, since every script that writes one from now on keeps them.
            commands.append(self._mark_if_empty())
        # Indexes before the record: listing skips an id without a record, but could never
        # find a record without an id.
        commands.append(("ZADD", self._idx_all, "NX", repr(score), wid))
        commands.append(("ZADD", self._idx_type(workflow.workflow_type), "NX", repr(score), wid))
        commands.append(("HSETNX", self._idx_types, wid, workflow.workflow_type))
        member, root_score = active_member(wid, root.invocation_id), repr(float(root.updated_at))
        commands.append(("ZADD", self._idx_active, "NX", root_score, member))
        wf_fields = layout.workflow_fields(workflow)
        keys = [base + "wf", base + "invs", base + "inv:" + root.invocation_id]
        message: tuple[str, bytes] = ("", b"")
        if push is not None:
            keys += [push.queue, push.messages]
            message = (push.message_id, push.data)
        args = (len(wf_fields), *message, *wf_fields)
        args += (root.invocation_id, *layout.invocation_fields(root))
        commands.append(("EVALSHA", self._create.sha, len(keys), *keys, *args))
        parent = workflow.parent_workflow_id
        if parent is not None:
            # The record first, then its entry in the parent's list, which reads the parent's
            # cancel flag: a cancel walks the children after setting its flag, so the child
            # is either found by the walk or told the flag here. A retried start re-lists.
            lineage = (self._base(parent) + "children", self._base(parent) + "wf")
            commands.append(("EVALSHA", self._add_child.sha, 2, *lineage, repr(score), wid))
        with self._calls():
            replies = self._pipeline(commands)
        if marking:
            ready = replies.pop(0) == 1
            self._status_ready = self._status_ready or ready
            self._status_checked = True
        indexed, reply = replies[3], replies[4]
        created = reply[0] == 1
        stored = workflow if created else layout.workflow_from(layout.pairs(reply[1]))
        if created and parent is not None and replies[5] == 1 and not root.cancel_shielded:
            # Created under a cancelled parent: born cancelled (no message runs it before).
            stored = self.request_cancel(wid) or stored
        self._remember_root(stored)
        if (
            indexed
            and not created
            and (stored.status.finished or stored.root_invocation_id != root.invocation_id)
        ):
            # The workflow existed and this call indexed a root that is finished or not its
            # own: take that entry back (unless something rewrote it since).
            with self._calls():
                self._script(self._drop, keys=[self._idx_active], args=[member, root_score])
        return stored, created

    def get_workflow(self, workflow_id: str) -> WorkflowRecord | None:
        """The workflow, or None."""
        with self._calls():
            fields = self._call("HGETALL", self._base(workflow_id) + "wf")
        return layout.workflow_from(hash_fields(fields)) if fields else None

    def child_workflows(self, workflow_id: str) -> list[WorkflowRecord]:
        """Workflows whose parent is ``workflow_id``, oldest first."""
        with self._calls():
            ids = self._call("ZRANGE", self._base(workflow_id) + "children", 0, -1)
            replies = self._pipeline([("HGETALL", self._base(i.decode()) + "wf") for i in ids])
        records = [layout.workflow_from(hash_fields(fields)) for fields in replies if fields]
        children = [r for r in records if r.parent_workflow_id == workflow_id]
        children.sort(key=lambda r: r.created_at)
        return children

    def request_cancel(self, workflow_id: str) -> WorkflowRecord | None:
        """Set the workflow's persistent cancel flag; the updated record, or None."""
        with self._calls():
            reply = self._script(
                self._cancel, keys=[self._base(workflow_id) + "wf"], args=[repr(time.time())]
            )
        return layout.workflow_from(layout.pairs(reply)) if reply else None

    # -- invocations ---------------------------------------------------------------------

    def get_invocation(self, workflow_id: str, invocation_id: str) -> InvocationRecord | None:
        """The invocation, or None."""
        with self._calls():
            fields = self._call("HGETALL", self._base(workflow_id) + "inv:" + invocation_id)
        return layout.invocation_from(hash_fields(fields)) if fields else None

    def list_invocations(self, workflow_id: str) -> list[InvocationRecord]:
        """Every invocation of the workflow, oldest first."""
        base = self._base(workflow_id)
        with self._calls():
            replies = self._script(self._invocations, keys=[base + "invs"], args=[base])
        # A stable sort over creation order breaks created_at ties the way MemoryStore does.
        return sorted(
            (layout.invocation_from(layout.pairs(r)) for r in replies), key=lambda r: r.created_at
        )

    def load(self, workflow_id: str, invocation_id: str, *, claim: bool = True) -> Snapshot | None:
        """Workflow, invocation, history and child outcomes in one round trip.

        One transaction: the claim script (unless ``claim`` is false), then plain reads.
        """
        base = self._base(workflow_id)
        reads: list[Command] = [("LRANGE", base + "h:" + invocation_id, 0, -1)]
        reads += [("HGETALL", base + "o:" + invocation_id)]
        replies = self._load(workflow_id, invocation_id, claim, reads)
        if replies is None:
            return None
        workflow, inv_fields, (entries, outcomes) = replies
        return Snapshot(
            workflow=workflow,
            invocation=layout.invocation_from(inv_fields),
            entries=entries,
            outcomes={int(seq): value for seq, value in hash_fields(outcomes).items()},
        )

    def load_since(
        self, workflow_id: str, invocation_id: str, mark: HistoryMark, *, claim: bool = True
    ) -> HistoryDelta | None:
        """``load``, reading only past ``mark`` (see :mod:`wfcore.store.incremental`)."""
        base = self._base(workflow_id)
        outcomes_key = base + "o:" + invocation_id
        reads: list[Command] = [("LRANGE", base + "h:" + invocation_id, tail_start(mark), -1)]
        if not mark.length:
            reads.append(("HGETALL", outcomes_key))
        else:
            reads.append(("HLEN", outcomes_key))
            if mark.open:
                reads.append(("HMGET", outcomes_key, *mark.open))
        replies = self._load(workflow_id, invocation_id, claim, reads)
        if replies is None:
            return None
        workflow, inv_fields, (entries, *counted) = replies
        if not mark.length:
            outcomes = {int(seq): value for seq, value in hash_fields(counted[0]).items()}
            count = len(outcomes)
        else:
            count = counted[0]
            found = counted[1] if mark.open else []
            outcomes = {s: v for s, v in zip(mark.open, found, strict=True) if v is not None}
        return HistoryDelta(
            workflow,
            layout.invocation_from(inv_fields),
            int(inv_fields.get(b"epoch") or 0),
            entries,
            outcomes,
            count,
        )

    def _load(
        self, workflow_id: str, invocation_id: str, claim: bool, reads: list[Command]
    ) -> tuple[WorkflowRecord, dict[bytes, bytes], list[Any]] | None:
        """One transaction: the claim script (unless ``claim`` is false), the workflow's and
        the invocation's fields, then ``reads``; None if either record is missing."""
        base = self._base(workflow_id)
        inv_key = base + "inv:" + invocation_id
        commands: list[Command] = [("HGETALL", base + "wf"), ("HGETALL", inv_key), *reads]
        if claim:
            # A claim moves updated_at to now but leaves the active-index score alone: an
            # older score is still a lower bound, and a sweep re-scores the few that lag.
            now = repr(time.time())
            claiming = ("EVALSHA", self._claim.sha, 2, base + "wf", inv_key, now, invocation_id)
            commands.insert(0, claiming)
        with self._calls():
            replies = self._transaction(commands)
        replies = replies[-2 - len(reads) :]
        fields, inv_fields = replies[0], replies[1]
        if not fields or not inv_fields:
            return None
        workflow = layout.workflow_from(hash_fields(fields))
        self._remember_root(workflow)
        return workflow, hash_fields(inv_fields), replies[2:]
