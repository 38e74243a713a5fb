"""A ``RedisStore``'s listing: pages of workflows from its sorted-set indexes.

Every index is a sorted set of workflow ids scored by ``created_at``: ``idx:all``,
``idx:type:<type>``, and the status indexes ``idx:status:<status>`` and
``idx:status:<status>:type:<type>``, which the Lua scripts that change a workflow's status
keep up to date in the same script (see ``reindex`` in ``_redis_scripts``). Redis orders
equal scores by member, so a reverse range by score is exactly the listing order, and a
cursor's position is a score bound: a page costs the same at any depth.

A database written before the status indexes existed has no ``idx:status:ready`` marker:
listing by status then scans the type (or all) index and filters, correct but slow, until
``index_statuses()`` (``wfcore upgrade``) builds them.
"""

from __future__ import annotations

import logging
from collections import deque

from wfcore._models import WorkflowRecord, WorkflowStatus
from wfcore.errors import StoreError
from wfcore.store import _redis_scripts as layout
from wfcore.store import listing
from wfcore.store._redis_connection import (
    CHUNK,
    Command,
    RedisConnection,
    hash_fields,
    scored_pairs,
)

__all__ = ["RedisListing"]

_log = logging.getLogger("wfcore.store")

# KEYS: the status-index marker, idx:all.
_MARK_IF_EMPTY = """
if redis.call('EXISTS', KEYS[2]) == 0 then redis.call('SET', KEYS[1], '1') end
return redis.call('EXISTS', KEYS[1])
"""


class RedisListing(RedisConnection):
    """``list_workflows`` and the upgrade that builds its status indexes."""

    _status_ready = False
    _status_checked = False

    def list_workflows(
        self,
        *,
        status: WorkflowStatus | None = None,
        workflow_type: str | None = None,
        limit: int = 100,
        created_after: float | None = None,
        created_before: float | None = None,
        cursor: str | None = None,
    ) -> list[WorkflowRecord]:
        """Workflows, newest first (ties by id), filtered; see ``StateStore.list_workflows``.

        One reverse range over the index of the filters used, from the cursor's position,
        and one pipeline of reads: two round trips for a page.
        """
        after = listing.position(
            cursor,
            status=status,
            workflow_type=workflow_type,
            created_after=created_after,
            created_before=created_before,
        )
        status = None if status is None else WorkflowStatus(status)
        if limit == 0:
            return []
        high, low = "+inf", "-inf" if created_after is None else repr(float(created_after))
        if created_before is not None:
            high = f"({float(created_before)!r}"
        if after is not None and (created_before is None or after.created_at < created_before):
            high = repr(after.created_at)  # inclusive: ties at it are sorted out below
        found: list[WorkflowRecord] = []
        with self._calls():
            name, exact = self._listing_index(status, workflow_type)
            # One index per shard (one on a standalone server), merged: each gives its
            # entries highest first, and the highest head of all is the next in order.
            keys = [index + name for index in self._layout.indexes()]
            heads: dict[str, deque[tuple[bytes, float]]] = {key: deque() for key in keys}
            offsets = dict.fromkeys(keys, 0)
            unread = set(keys)  # may hold more entries than were fetched
            while limit < 0 or len(found) < limit:
                want = CHUNK if limit < 0 or not exact else min(limit - len(found) + 1, CHUNK)
                refill = [key for key in keys if key in unread and not heads[key]]
                ranges = [
                    ("ZREVRANGEBYSCORE", key, high, low, "WITHSCORES", "LIMIT", offsets[key], want)
                    for key in refill
                ]
                for key, reply in zip(refill, self._gather(ranges), strict=True):
                    entries = scored_pairs(reply)
                    offsets[key] += len(entries)
                    heads[key].extend(entries)
                    if len(entries) < want:
                        unread.discard(key)
                picked = _merge(keys, heads, unread, want)
                if not picked:
                    break
                ids = [
                    m.decode()
                    for m, score in picked
                    if after is None
                    or score < after.created_at
                    or (score == after.created_at and m.decode() < after.workflow_id)
                ]
                fetched = self._gather([("HGETALL", self._base(i) + "wf") for i in ids])
                for fields in fetched:
                    if not fields:
                        continue  # an index entry whose workflow is gone or not yet written
                    record = layout.workflow_from(hash_fields(fields))
                    if (status is None or record.status is status) and (
                        workflow_type is None or record.workflow_type == workflow_type
                    ):
                        found.append(record)
        return found[:limit]

    def count_workflows(self, status: WorkflowStatus) -> int:
        """How many workflows have ``status``: the size of its status index (``ZCARD``).

        Raises:
            StoreError: the database has no status indexes yet (``wfcore upgrade``).
        """
        with self._calls():
            if not self._statuses_indexed():
                raise StoreError(
                    f"{self!r} has no status indexes (written before wfcore kept them), so "
                    "workflows by status cannot be counted cheaply; run `wfcore upgrade "
                    "--store URL` once"
                )
            name = f"status:{WorkflowStatus(status).value}"
            counts = [("ZCARD", index + name) for index in self._layout.indexes()]
            return sum(int(n) for n in self._gather(counts))

    def _listing_index(
        self, status: WorkflowStatus | None, workflow_type: str | None
    ) -> tuple[str, bool]:
        """The name of the index to walk (in each shard), and whether it holds only
        workflows of ``status``."""
        if status is not None and self._statuses_indexed():
            name = f"status:{status.value}"
            return (name if workflow_type is None else f"{name}:type:{workflow_type}"), True
        if status is not None:
            _log.warning(
                "%r has no status indexes (written before wfcore kept them): listing by "
                "status scans every workflow; run `wfcore upgrade --store URL` once to build "
                "them",
                self,
            )
        return ("all" if workflow_type is None else f"type:{workflow_type}"), status is None

    def _statuses_indexed(self) -> bool:
        """Whether the status indexes hold every workflow: the marker says they were built,
        or that the database held no workflow when a store first wrote or listed one (the
        scripts have indexed every workflow since). Always on a cluster: its sharded
        layout is newer than the status indexes."""
        if self._layout.sharded:
            return True
        if not self._status_ready:
            self._status_ready = self._call(*self._mark_if_empty()) == 1
            self._status_checked = True
        return self._status_ready

    def _mark_if_empty(self) -> Command:
        """The command that sets the marker if no workflow was ever indexed; replies 1 when
        the marker is set (now or before)."""
        return ("EVAL", _MARK_IF_EMPTY, 2, self._status_marker, f"{self._prefix}:idx:all")

    @property
    def _status_marker(self) -> str:
        return f"{self._prefix}:idx:status:ready"

    def index_statuses(self) -> int:
        """Put every workflow in the status indexes, then mark them built; how many.

        For a database written by a wfcore older than those indexes. Safe to run while
        workers run (their scripts keep the indexes from then on) and to run again; run it
        once every process runs a wfcore that keeps them.
        """
        done = 0
        with self._calls():
            for index in self._layout.indexes():
                scan = b"0"
                while True:  # ZSCAN: every entry present from start to end is seen
                    scan, flat = self._call("ZSCAN", index + "all", scan, "COUNT", CHUNK)
                    ids = [m for m, _ in scored_pairs(flat)]
                    script = ("EVALSHA", self._index_status.sha, 1)
                    wfs = [(*script, self._base(i.decode()) + "wf") for i in ids]
                    done += sum(1 for r in self._gather(wfs) if r == 1)
                    if scan in (b"0", 0):
                        break
            self._call("SET", self._status_marker, "1")
        self._status_ready = True
        return done


def _merge(
    keys: list[str],
    heads: dict[str, deque[tuple[bytes, float]]],
    unread: set[str],
    want: int,
) -> list[tuple[bytes, float]]:
    """Up to ``want`` entries taken from ``heads`` in listing order (score, then member,
    descending), stopping when an index that may hold more has none fetched left."""
    picked: list[tuple[bytes, float]] = []
    while len(picked) < want:
        live = [key for key in keys if heads[key]]
        if not live:
            break
        key = max(live, key=lambda k: (heads[k][0][1], heads[k][0][0]))
        picked.append(heads[key].popleft())
        if not heads[key] and key in unread:
            break
    return picked
