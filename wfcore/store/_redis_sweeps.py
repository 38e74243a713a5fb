"""A ``RedisStore``'s sweeps over its cross-workflow indexes: claiming stale invocations for
recovery, heartbeats of running ones, and purging workflows past their retention."""

from __future__ import annotations

from collections.abc import Sequence

from wfcore._models import InvocationRecord, InvocationRef, WorkflowStatus
from wfcore.store import _redis_scripts as layout
from wfcore.store._redis_connection import (
    CHUNK,
    Command,
    RedisConnection,
    active_member,
    scored_pairs,
)

__all__ = ["RedisSweeps"]

_FINISHED = [status.value for status in WorkflowStatus if status.finished]


class RedisSweeps(RedisConnection):
    """Recovery claims, heartbeats and retention purges, each in few round trips."""

    def recover_candidates(
        self, *, older_than: float, now: float, limit: int = 100
    ) -> list[InvocationRecord]:
        """Claim up to ``limit`` unfinished invocations not updated since ``older_than``.

        Oldest ``updated_at`` first (ties by workflow id, then invocation id); each returned
        one now has ``updated_at == now``. One round trip when the active index holds nothing
        at or before ``older_than``; else three per round of up to ``limit`` entries (more
        rounds only when entries lag behind their invocations or are dead).
        """
        keys = [index + "active" for index in self._layout.indexes()]
        found: list[InvocationRecord] = []
        claimed: set[bytes] = set()
        with self._calls():
            while len(found) < limit:
                want = min(limit - len(found), CHUNK)
                # Entries claimed here stay in range only when now <= older_than: skip them.
                count = want + 1 + (len(claimed) if now <= older_than else 0)
                window = self._window(keys, older_than, count)
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
                claimed.update(
                    active_member(r.workflow_id, r.invocation_id).encode() for r in records
                )
                if bound is None or not changed:
                    break  # every entry in range was looked at, or (a race) none moved
        return found

    def _window(self, keys: list[str], older_than: float, count: int) -> list[tuple[bytes, float]]:
        """The first ``count`` entries scored at most ``older_than`` of the union of the
        active indexes ``keys`` (one per shard), lowest first (ties by member)."""
        if len(keys) == 1:
            return self._scored(keys[0], older_than, count)
        top = repr(float(older_than))
        ranges = [("ZRANGEBYSCORE", k, "-inf", top, "WITHSCORES", "LIMIT", 0, count) for k in keys]
        merged = [entry for reply in self._gather(ranges) for entry in scored_pairs(reply)]
        merged.sort(key=lambda entry: (entry[1], entry[0]))
        return merged[:count]

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
            self._gather(calls)

    def purge_expired(self, now: float) -> int:
        """Delete finished workflows whose retention has passed; how many were deleted.

        Also drops the index entries of workflows Redis already removed by their TTL (those
        count as deleted too, so every expired workflow is counted exactly once).
        """
        purged = 0
        with self._calls():
            indexes = self._layout.indexes()
            if len(indexes) > 1:  # sharded: sweep only the shards with something due
                top = repr(float(now))
                peeks = [
                    ("ZRANGEBYSCORE", i + "expiry", "-inf", top, "LIMIT", 0, 1) for i in indexes
                ]
                due = self._gather(peeks)
                indexes = [index for index, found in zip(indexes, due, strict=True) if found]
            for index in indexes:
                seen: set[bytes] = set()
                while True:
                    batch = self._scored(index + "expiry", now, CHUNK)
                    fresh = [(m, s) for m, s in batch if m not in seen]
                    if not fresh:
                        break
                    seen.update(m for m, _ in fresh)
                    purged += self._purge_batch(fresh, now)
        return purged

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
        moves: dict[str, list[bytes | str]] = {}  # per active index: new scores and members
        fixes: list[Command] = []
        for (m, score), verdict in zip(entries, self._gather(calls), strict=True):
            if verdict[0] == b"claimed":
                record = layout.invocation_from(layout.pairs(verdict[2]))
                claimed.append((float(verdict[1]), m, record))
            elif verdict[0] == b"later":
                if float(verdict[1]) != score:
                    moves.setdefault(self._active_of(m), []).extend((verdict[1], m))
            else:  # finished or gone: drop, unless rewritten since it was read
                script = ("EVALSHA", self._drop.sha, 1, self._active_of(m))
                fixes.append((*script, m, repr(score)))
        for _, m, _ in claimed:
            moves.setdefault(self._active_of(m), []).extend((repr(now), m))
        fixes += [("ZADD", key, "XX", *items) for key, items in moves.items()]
        self._gather(fixes)
        claimed.sort(key=lambda c: (c[0], c[1]))
        return [record for _, _, record in claimed], bool(fixes)

    def _active_of(self, member: bytes) -> str:
        """The active index holding ``member`` ("<workflow_id> <invocation_id>")."""
        return self._ix(member.decode().partition(" ")[0], "active")

    def purge_finished(self, workflow_ids: Sequence[str], before: float) -> int:
        """Delete those of ``workflow_ids`` that are finished and were last updated before
        ``before``; how many were deleted."""
        purged = 0
        with self._calls():
            for i in range(0, len(workflow_ids), CHUNK):
                batch = [(wid.encode(), 0.0) for wid in workflow_ids[i : i + CHUNK]]
                purged += self._purge_batch(batch, before, by_update=True)
        return purged

    def _purge_batch(
        self, candidates: list[tuple[bytes, float]], now: float, *, by_update: bool = False
    ) -> int:
        checks: list[Command] = []
        mode = ("updated",) if by_update else ()
        for member, _ in candidates:
            wid = member.decode()
            script = ("EVALSHA", self._purge_one.sha, 1, self._base(wid) + "wf")
            checks += [
                (*script, self._base(wid), repr(float(now)), *mode),
                ("HGET", self._ix(wid, "types"), wid),
            ]
        replies = self._gather(checks)
        cleanup: list[Command] = []
        counted: list[int] = []  # positions of the expiry-index removals that count
        for (member, score), verdict, known_type in zip(
            candidates, replies[::2], replies[1::2], strict=True
        ):
            kind, index = verdict[0], self._layout.index(member.decode())
            if by_update and kind != b"deleted":
                continue  # not this purge's to count or to re-index
            if kind in (b"deleted", b"gone"):
                self._roots.pop(member.decode(), None)
                counted.append(len(cleanup))
                cleanup += [("ZREM", index + "expiry", member), ("ZREM", index + "all", member)]
                wtype = verdict[1] if kind == b"deleted" else known_type
                if wtype is not None:
                    cleanup.append(("ZREM", index + "type:" + wtype.decode(), member))
                # Only finished workflows are deleted: out of those status indexes.
                for status in _FINISHED:
                    key = f"{index}status:{status}"
                    cleanup.append(("ZREM", key, member))
                    if wtype is not None:
                        cleanup.append(("ZREM", f"{key}:type:{wtype.decode()}", member))
                cleanup.append(("HDEL", index + "types", member))
                if kind == b"deleted" and verdict[2]:
                    parent = self._base(verdict[2].decode()) + "children"
                    cleanup.append(("ZREM", parent, member))
                if kind == b"deleted" and verdict[3]:
                    # Unfinished invocations of a finished workflow (never-run children...).
                    # Those of a workflow Redis expired by TTL are dropped by the sweeps.
                    wid = member.decode()
                    active = [active_member(wid, iid.decode()) for iid in verdict[3]]
                    for i in range(0, len(active), 1000):
                        cleanup.append(("ZREM", index + "active", *active[i : i + 1000]))
            elif kind == b"later":
                cleanup.append(("ZADD", index + "expiry", "XX", verdict[1], member))
            else:  # still running: a child's finish or a lost commit left this candidate
                script = ("EVALSHA", self._drop.sha, 1, index + "expiry")
                cleanup.append((*script, member, repr(score)))
        results = self._gather(cleanup)
        if by_update:  # each deletion counts: these need not be in the expiry index
            return len(counted)
        return sum(1 for i in counted if results[i] == 1)
