"""``RedisStore``: the state store on Redis, one round trip per engine operation."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any, cast

import redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.exceptions import (
    NoScriptError,
)
from redis.retry import Retry

from wfcore._models import (
    Batch,
    CommitResult,
    InvocationRecord,
    InvocationRef,
    OutcomeResult,
    QueuePush,
    Snapshot,
    WorkflowRecord,
    WorkflowStatus,
)
from wfcore.errors import (
    ConfigurationError,
    StoreUnavailableError,
    WorkflowNotFoundError,
)
from wfcore.store import _redis_scripts as layout
from wfcore.store._redis_link import ThreadLinks
from wfcore.store._redis_target import EXAMPLE, parse_url, positive_or_zero, redact, store_error

__all__ = ["RedisStore"]

_CHUNK = 200
_ROOTS_KEPT = 10_000

Command = tuple[Any, ...]


class RedisStore:
    """A store on Redis (standalone or Cluster), safe to share between threads.

    Every key of one workflow carries the hash tag ``{workflow_id}``, so each Lua script
    touches one slot. Cross-workflow indexes (by creation time, by type, by expiry, and
    the unfinished invocations by last update) live outside those slots and are written by
    separate commands in the same round trip.

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

    def __init__(
        self,
        url: str,
        *,
        prefix: str | None = None,
        retention: float | None = None,
        timeout: float | None = None,
    ) -> None:
        target = parse_url(url, prefix, timeout)
        if retention is not None and not positive_or_zero(retention):
            raise ConfigurationError(
                f"retention must be a number of seconds >= 0 or None, got {retention!r}"
            )
        self._target = target
        self._prefix = target.prefix
        self._retention = retention
        self._closed = False
        self._guard = _Calls(self)
        try:
            self._client = redis.Redis.from_url(
                target.url,
                socket_timeout=target.timeout,
                socket_connect_timeout=target.timeout,
                # No retries: a retried record_outcome whose first reply was lost would report
                # recorded=False and nobody would wake the parent.
                retry=Retry(NoBackoff(), 0),
            )
            pool = self._client.connection_pool
            # Build one connection object (no socket yet) so a bad query option fails here.
            pool.connection_class(**pool.connection_kwargs)
        except (TypeError, ValueError, redis.RedisError) as e:
            raise ConfigurationError(
                f"bad Redis store URL {redact(url)!r}: {e}; use e.g. {EXAMPLE}"
            ) from e
        self._links = ThreadLinks(self._client.connection_pool)
        self._idx_all = f"{target.prefix}:idx:all"
        self._idx_types = f"{target.prefix}:idx:types"
        self._idx_expiry = f"{target.prefix}:idx:expiry"
        # Unfinished invocations, member "<workflow_id> <invocation_id>" (see _member), score
        # a lower bound of the invocation's updated_at (exact unless an operation could not
        # know its outcome in advance). A hint: recover_candidates checks every member
        # inside its workflow's slot, re-scores or drops the wrong ones, and claims the rest.
        self._idx_active = f"{target.prefix}:idx:active"
        # Root invocation ids seen by load/create: lets commit skip the expiry-index write
        # when a non-root invocation finishes. Only an optimisation; unknown means "write".
        self._roots: dict[str, str] = {}
        sources = [layout.CREATE, layout.ADD_CHILD, layout.CLAIM, layout.COMMIT]
        sources += [layout.RECORD_OUTCOME, layout.CANCEL, layout.INVOCATIONS, layout.PURGE_ONE]
        sources += [layout.DROP_IF_SCORE, layout.RECLAIM, layout.HEARTBEAT]
        self._scripts = tuple(self._client.register_script(source) for source in sources)
        (self._create, self._add_child, self._claim, self._commit, self._record) = self._scripts[:5]
        (self._cancel, self._invocations, self._purge_one, self._drop) = self._scripts[5:9]
        self._reclaim, self._heartbeat = self._scripts[9:11]

    def __repr__(self) -> str:
        return f"RedisStore({self._target.where!r}, prefix={self._prefix!r})"

    def shares_server(self, client: redis.Redis) -> bool:
        """True when ``client`` reaches this store's server and database (same address or
        Unix socket, same db) as the same user, so this store's commits may write the keys
        it uses (a different ACL user might not be allowed to)."""
        return _server_of(client) == _server_of(self._client)

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
        if workflow.parent_workflow_id is not None:
            # Parent first: a crash in between leaves a dangling child id, never a lost child.
            parent = self._base(workflow.parent_workflow_id)
            lineage = (parent + "children", parent + "wf", repr(score), wid)
            commands.append(("EVALSHA", self._add_child.sha, 2, *lineage))
        # Indexes before the record: listing skips an id without a record, but could never
        # find a record without an id.
        commands.append(("ZADD", self._idx_all, "NX", repr(score), wid))
        commands.append(("ZADD", self._idx_type(workflow.workflow_type), "NX", repr(score), wid))
        commands.append(("HSETNX", self._idx_types, wid, workflow.workflow_type))
        member, root_score = _member(wid, root.invocation_id), repr(float(root.updated_at))
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
        with self._calls():
            *_, indexed, reply = self._pipeline(commands)
        created = reply[0] == 1
        stored = workflow if created else layout.workflow_from(layout.pairs(reply[1]))
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
        return layout.workflow_from(_hash(fields)) if fields else None

    def list_workflows(
        self,
        *,
        status: WorkflowStatus | None = None,
        workflow_type: str | None = None,
        limit: int = 100,
    ) -> list[WorkflowRecord]:
        """Workflows, newest first, optionally filtered by status and type."""
        index = self._idx_all if workflow_type is None else self._idx_type(workflow_type)
        found: list[WorkflowRecord] = []
        seen: set[str] = set()
        with self._calls():
            if limit == 0:
                return []
            # Status is not indexed (it changes inside the workflow's slot): scan newest first.
            start = 0
            while limit < 0 or len(found) < limit:
                ids = self._call("ZREVRANGE", index, start, start + _CHUNK - 1)
                records = self._pipeline([("HGETALL", self._base(i.decode()) + "wf") for i in ids])
                for fields in records:
                    if not fields:
                        continue  # an index entry whose workflow is gone or not yet written
                    record = layout.workflow_from(_hash(fields))
                    if (
                        record.workflow_id not in seen
                        and (status is None or record.status == status)
                        and (workflow_type is None or record.workflow_type == workflow_type)
                    ):
                        seen.add(record.workflow_id)
                        found.append(record)
                if len(ids) < _CHUNK:
                    break
                start += _CHUNK
        return found[:limit]

    def child_workflows(self, workflow_id: str) -> list[WorkflowRecord]:
        """Workflows whose parent is ``workflow_id``, oldest first."""
        with self._calls():
            ids = self._call("ZRANGE", self._base(workflow_id) + "children", 0, -1)
            replies = self._pipeline([("HGETALL", self._base(i.decode()) + "wf") for i in ids])
        records = [layout.workflow_from(_hash(fields)) for fields in replies if fields]
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

    def purge_expired(self, now: float) -> int:
        """Delete finished workflows whose retention has passed; how many were deleted.

        Also drops the index entries of workflows Redis already removed by their TTL (those
        count as deleted too, so every expired workflow is counted exactly once).
        """
        purged = 0
        seen: set[bytes] = set()
        with self._calls():
            while True:
                batch = self._scored(self._idx_expiry, now, _CHUNK)
                fresh = [(m, s) for m, s in batch if m not in seen]
                if not fresh:
                    return purged
                seen.update(m for m, _ in fresh)
                purged += self._purge_batch(fresh, now)

    # -- invocations ---------------------------------------------------------------------

    def get_invocation(self, workflow_id: str, invocation_id: str) -> InvocationRecord | None:
        """The invocation, or None."""
        with self._calls():
            fields = self._call("HGETALL", self._base(workflow_id) + "inv:" + invocation_id)
        return layout.invocation_from(_hash(fields)) if fields else None

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
        inv_key = base + "inv:" + invocation_id
        reads: list[Command] = [("HGETALL", base + "wf"), ("HGETALL", inv_key)]
        reads += [("LRANGE", base + "h:" + invocation_id, 0, -1)]
        reads += [("HGETALL", base + "o:" + invocation_id)]
        if claim:
            # A claim moves updated_at to now but leaves the active-index score alone: an
            # older score is still a lower bound, and a sweep re-scores the few that lag.
            now = repr(time.time())
            claiming = ("EVALSHA", self._claim.sha, 2, base + "wf", inv_key, now, invocation_id)
            reads.insert(0, claiming)
        with self._calls():
            replies = self._transaction(reads)
        fields, inv_fields, entries, outcomes = replies[-4:]
        if not fields or not inv_fields:
            return None
        workflow = layout.workflow_from(_hash(fields))
        self._remember_root(workflow)
        return Snapshot(
            workflow=workflow,
            invocation=layout.invocation_from(_hash(inv_fields)),
            entries=entries,
            outcomes={int(seq): value for seq, value in _hash(outcomes).items()},
        )

    def read_data(self, workflow_id: str, key: str) -> bytes | None:
        """One workflow data value, or None when the key was never set."""
        with self._calls():
            value: bytes | None = self._call("HGET", self._base(workflow_id) + "data", key)
        return value

    def commit(self, workflow_id: str, invocation_id: str, batch: Batch) -> CommitResult:
        """Apply ``batch`` atomically if the history still holds ``batch.base_seq`` entries.

        Raises:
            WorkflowNotFoundError: the invocation does not exist.
        """
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
        elif batch.suspend is not None:
            mode, waiting = "suspend", ",".join(str(int(seq)) for seq in batch.suspend)
        keys = [base + "wf", base + "invs", base + "inv:" + invocation_id]
        keys += [base + "h:" + invocation_id, base + "o:" + invocation_id, base + "data"]
        children: list[str | bytes | int] = []
        for child in batch.children:
            keys.append(base + "inv:" + child.invocation_id)
            fields = layout.invocation_fields(child)
            children += [child.invocation_id, len(fields), *fields]
        parent_id = parent_seq = ""
        if batch.finish is not None and batch.parent is not None:
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
        data = [item for pair in batch.data.items() for item in pair]
        args: list[Any] = [base, repr(now), invocation_id, batch.base_seq, mode, status, outcome]
        args += [waiting, expires, expires_ms, parent_id, parent_seq]
        args += [len(batch.entries), len(data), len(batch.children), len(batch.pushes)]
        args += ["1" if extra is not None else "", *batch.entries, *data]
        args += [*children, *messages]
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
            before.append(("ZADD", self._idx_expiry, repr(expires_at), workflow_id))
        if batch.children:
            scored = [repr(float(child.updated_at)) for child in batch.children]
            members = [_member(workflow_id, child.invocation_id) for child in batch.children]
            pairs = [item for pair in zip(scored, members, strict=True) for item in pair]
            before.append(("ZADD", self._idx_active, "NX", *pairs))
        member = _member(workflow_id, invocation_id)
        if batch.finish is not None and batch.finish.status.finished:
            after.append(("ZREM", self._idx_active, member))
        elif batch.finish is not None:
            after.append(("ZADD", self._idx_active, repr(now), member))
        elif batch.suspend is not None:
            # Only ensures the entry: a refused suspension leaves updated_at alone, so the
            # score must not move to now (it would hide the invocation from sweeps).
            before.append(("ZADD", self._idx_active, "NX", repr(now), member))
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
                        self._drop, keys=[self._idx_expiry], args=[workflow_id, repr(expires_at)]
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
                    self._call("ZADD", self._idx_active, updated_at, member)
        if ok != 1:
            return CommitResult(ok=False, cancel_requested=cancel == 1, winners=list(winners))
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

    def recover_candidates(
        self, *, older_than: float, now: float, limit: int = 100
    ) -> list[InvocationRecord]:
        """Claim up to ``limit`` unfinished invocations not updated since ``older_than``.

        Oldest ``updated_at`` first (ties by workflow id, then invocation id); each returned
        one now has ``updated_at == now``. One round trip when the active index holds nothing
        at or before ``older_than``; else three per round of up to ``limit`` entries (more
        rounds only when entries lag behind their invocations or are dead).
        """
        found: list[InvocationRecord] = []
        claimed: set[bytes] = set()
        with self._calls():
            while len(found) < limit:
                want = min(limit - len(found), _CHUNK)
                # Entries claimed here stay in range only when now <= older_than: skip them.
                count = want + 1 + (len(claimed) if now <= older_than else 0)
                window = self._scored(self._idx_active, older_than, count)
                fresh = [(m, score) for m, score in window if m not in claimed]
                # Look at up to `want` entries; the next one (if any may follow) is the bound.
                bound: tuple[bytes, float] | None = None
                if len(fresh) > want:
                    bound, fresh = fresh[want], fresh[:want]
                elif len(window) == count:
                    bound = window[-1]
                    fresh = [entry for entry in fresh if entry != bound]
                if not fresh:
                    break
                records, changed = self._recover_round(fresh, bound, older_than, now)
                found += records
                claimed.update(_member(r.workflow_id, r.invocation_id).encode() for r in records)
                if bound is None or not changed:
                    break  # every entry in range was looked at, or (a race) none moved
        return found

    def heartbeat(self, refs: Sequence[InvocationRef], now: float) -> None:
        """Set ``updated_at`` to ``now`` for each of these invocations that is RUNNING,
        unless it is already later.

        One round trip for all of them; the active index keeps its (lower-bound) scores.
        """
        calls: list[Command] = []
        for ref in refs:
            base = self._base(ref.workflow_id)
            keys = (base + "wf", base + "inv:" + ref.invocation_id)
            calls.append(("EVALSHA", self._heartbeat.sha, 2, *keys, repr(now), ref.invocation_id))
        with self._calls():
            self._pipeline(calls)

    # -- lifecycle -----------------------------------------------------------------------

    def ping(self) -> None:
        """Raise ``StoreUnavailableError`` if the store cannot be reached."""
        with self._calls():
            self._call("PING")

    def close(self) -> None:
        """Release connections; every later call raises ``StoreUnavailableError``."""
        self._closed = True
        self._links.close()
        self._client.close()

    # -- helpers -------------------------------------------------------------------------

    def _call(self, *command: Any) -> Any:
        """One command, its raw reply."""
        return self._pipeline([command])[0]

    def _scored(self, key: str, max_score: float, count: int) -> list[tuple[bytes, float]]:
        """Up to ``count`` members of a sorted set scored at most ``max_score``, lowest
        first, with their scores."""
        top = repr(float(max_score))
        reply = self._call("ZRANGEBYSCORE", key, "-inf", top, "WITHSCORES", "LIMIT", 0, count)
        if reply and isinstance(reply[0], list):  # RESP3 (redis-py's default): pairs
            return [(member, float(score)) for member, score in reply]
        return [(m, float(s)) for m, s in zip(reply[::2], reply[1::2], strict=True)]

    def _remember_root(self, workflow: WorkflowRecord) -> None:
        if len(self._roots) >= _ROOTS_KEPT:
            self._roots.clear()  # crude but thread-safe bound; misses only cost a ZADD
        self._roots[workflow.workflow_id] = workflow.root_invocation_id

    def _base(self, workflow_id: str) -> str:
        return f"{self._prefix}:{{{workflow_id}}}:"

    def _idx_type(self, workflow_type: str) -> str:
        return f"{self._prefix}:idx:type:{workflow_type}"

    def _recover_round(
        self,
        entries: list[tuple[bytes, float]],
        bound: tuple[bytes, float] | None,
        older_than: float,
        now: float,
    ) -> tuple[list[InvocationRecord], bool]:
        """Claim, in their workflows' slots, the stale invocations of these index entries.

        Scores only bound updated_at from below, so an entry is claimed only if its real
        updated_at is stale and before ``bound`` (the first entry not looked at, whose real
        value is at least its score): the oldest always come first. Then the index follows:
        claimed entries move to now, lagging ones to their real time, dead ones go. Returns
        the records claimed, oldest first, and whether anything changed.
        """
        bound_score, bound_member = ("", b"") if bound is None else (repr(bound[1]), bound[0])
        calls: list[Command] = []
        for m, _ in entries:
            wid, _, iid = m.decode().partition(" ")
            base = self._base(wid)
            tie = "1" if bound is None or m < bound_member else "0"
            args = (repr(older_than), repr(now), iid, bound_score, tie)
            calls.append(("EVALSHA", self._reclaim.sha, 2, base + "wf", base + "inv:" + iid, *args))
        claimed: list[tuple[float, bytes, InvocationRecord]] = []
        rescored: list[bytes | str] = []
        fixes: list[Command] = []
        for (m, score), verdict in zip(entries, self._pipeline(calls), strict=True):
            if verdict[0] == b"claimed":
                record = layout.invocation_from(layout.pairs(verdict[2]))
                claimed.append((float(verdict[1]), m, record))
            elif verdict[0] == b"later":
                if float(verdict[1]) != score:
                    rescored += [verdict[1], m]
            else:  # finished or gone: drop, unless rewritten since it was read
                fixes.append(("EVALSHA", self._drop.sha, 1, self._idx_active, m, repr(score)))
        if claimed:
            moved = [item for _, m, _ in claimed for item in (repr(now), m)]
            fixes.append(("ZADD", self._idx_active, "XX", *moved))
        if rescored:
            fixes.append(("ZADD", self._idx_active, "XX", *rescored))
        self._pipeline(fixes)
        claimed.sort(key=lambda c: (c[0], c[1]))
        return [record for _, _, record in claimed], bool(fixes)

    def _purge_batch(self, candidates: list[tuple[bytes, float]], now: float) -> int:
        checks: list[Command] = []
        for member, _ in candidates:
            wid = member.decode()
            script = ("EVALSHA", self._purge_one.sha, 1, self._base(wid) + "wf")
            checks += [(*script, self._base(wid), repr(float(now))), ("HGET", self._idx_types, wid)]
        replies = self._pipeline(checks)
        cleanup: list[Command] = []
        counted: list[int] = []  # positions of the expiry-index removals that count
        for (member, score), verdict, known_type in zip(
            candidates, replies[::2], replies[1::2], strict=True
        ):
            kind = verdict[0]
            if kind in (b"deleted", b"gone"):
                self._roots.pop(member.decode(), None)
                counted.append(len(cleanup))
                cleanup += [("ZREM", self._idx_expiry, member), ("ZREM", self._idx_all, member)]
                wtype = verdict[1] if kind == b"deleted" else known_type
                if wtype is not None:
                    cleanup.append(("ZREM", self._idx_type(wtype.decode()), member))
                cleanup.append(("HDEL", self._idx_types, member))
                if kind == b"deleted" and verdict[2]:
                    parent = self._base(verdict[2].decode()) + "children"
                    cleanup.append(("ZREM", parent, member))
                if kind == b"deleted" and verdict[3]:
                    # Unfinished invocations of a finished workflow (never-run children...).
                    # Those of a workflow Redis expired by TTL are dropped by the sweeps.
                    wid = member.decode()
                    active = [_member(wid, iid.decode()) for iid in verdict[3]]
                    for i in range(0, len(active), 1000):
                        cleanup.append(("ZREM", self._idx_active, *active[i : i + 1000]))
            elif kind == b"later":
                cleanup.append(("ZADD", self._idx_expiry, "XX", verdict[1], member))
            else:  # still running: a child's finish or a lost commit left this candidate
                script = ("EVALSHA", self._drop.sha, 1, self._idx_expiry)
                cleanup.append((*script, member, repr(score)))
        results = self._pipeline(cleanup)
        return sum(1 for i in counted if results[i] == 1)

    def _pipeline(self, commands: Sequence[Command]) -> list[Any]:
        if not commands:
            return []
        results = self._send(commands)
        missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if missing:
            # The server lost its script cache (restart, SCRIPT FLUSH): reload and re-send
            # only the refused calls, which did nothing, so no other command runs twice.
            self._reload_scripts()
            for i, result in zip(missing, self._send([commands[i] for i in missing]), strict=True):
                results[i] = result
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    def _transaction(self, commands: Sequence[Command]) -> list[Any]:
        """``commands`` in MULTI/EXEC, sent as one write: their replies."""
        results = self._exec(commands)
        if any(isinstance(r, NoScriptError) for r in results):
            # A script refused for a lost script cache did nothing: reload, run it all again.
            self._reload_scripts()
            results = self._exec(commands)
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    def _exec(self, commands: Sequence[Command]) -> list[Any]:
        replies = self._send([("MULTI",), *commands, ("EXEC",)])
        for reply in replies:
            if isinstance(reply, Exception):  # refused while queueing: EXEC ran nothing
                raise reply
        return list(replies[-1])

    def _reload_scripts(self) -> None:
        for loaded in self._send([("SCRIPT", "LOAD", s.script) for s in self._scripts]):
            if isinstance(loaded, Exception):
                raise loaded

    def _send(self, commands: Sequence[Command]) -> list[Any]:
        return self._links.roundtrip(commands)

    def _script(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return self._pipeline([("EVALSHA", script.sha, len(keys), *keys, *args)])[0]

    def _calls(self) -> _Calls:
        return self._guard


class _Calls:
    """``with store._calls():`` refuses a closed store and turns redis-py errors into wfcore's.

    One object per store, reused: cheaper than a generator context manager per round trip.
    """

    __slots__ = ("_store",)

    def __init__(self, store: RedisStore) -> None:
        self._store = store

    def __enter__(self) -> None:
        if self._store._closed:
            raise StoreUnavailableError(f"{self._store!r} was closed; open a new store")

    def __exit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        if isinstance(error, redis.RedisError):
            raise store_error(self._store._target, error) from error


def _hash(reply: Any) -> dict[bytes, bytes]:
    """An HGETALL reply as a dict: a map under RESP3 (redis-py's default), a flat list under
    RESP2."""
    return cast(dict[bytes, bytes], reply) if isinstance(reply, dict) else layout.pairs(reply)


def _member(workflow_id: str, invocation_id: str) -> str:
    # The active-index entry of an invocation. Workflow ids hold no whitespace, so the first
    # space splits it; and as ' ' sorts below every character they may hold, entries of equal
    # score sort as (workflow_id, invocation_id) pairs do: the other stores' tie order.
    return f"{workflow_id} {invocation_id}"


def _server_of(client: redis.Redis) -> tuple[object, ...]:
    kwargs = client.connection_pool.connection_kwargs
    where = kwargs.get("path") or (kwargs.get("host", "localhost"), int(kwargs.get("port", 6379)))
    return where, int(kwargs.get("db") or 0), kwargs.get("username")
