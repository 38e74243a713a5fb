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
from typing import Any

from wfcore._models import WorkflowRecord, WorkflowStatus
from wfcore.errors import StoreError
from wfcore.store import _redis_scripts as layout
from wfcore.store import listing
from wfcore.store._redis_connection import CHUNK, Command, RedisConnection, hash_fields

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
            key, exact = self._listing_index(status, workflow_type)
            offset = 0
            while limit < 0 or len(found) < limit:
                want = CHUNK if limit < 0 or not exact else min(limit - len(found) + 1, CHUNK)
                command = ("ZREVRANGEBYSCORE", key, high, low, "WITHSCORES", "LIMIT", offset, want)
                entries = _scored(self._call(*command))
                offset += len(entries)
                ids = [
                    m.decode()
                    for m, score in entries
                    if after is None
                    or score < after.created_at
                    or (score == after.created_at and m.decode() < after.workflow_id)
                ]
                fetched = self._pipeline([("HGETALL", self._base(i) + "wf") for i in ids])
                for fields in fetched:
                    if not fields:
                        continue  # an index entry whose workflow is gone or not yet written
                    record = layout.workflow_from(hash_fields(fields))
                    if (status is None or record.status is status) and (
                        workflow_type is None or record.workflow_type == workflow_type
                    ):
                        found.append(record)
                if len(entries) < want:
                    break
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
            key = f"{self._prefix}:idx:status:{WorkflowStatus(status).value}"
            return int(self._call("ZCARD", key))

    def _listing_index(
        self, status: WorkflowStatus | None, workflow_type: str | None
    ) -> tuple[str, bool]:
        """The index to walk, and whether it holds only workflows of ``status``."""
        if status is not None and self._statuses_indexed():
            key = f"{self._prefix}:idx:status:{status.value}"
            return (key if workflow_type is None else f"{key}:type:{workflow_type}"), True
        if status is not None:
            _log.warning(
                "%r has no status indexes (written before wfcore kept them): listing by "
                "status scans every workflow; run `wfcore upgrade --store URL` once to build "
                "them",
                self,
            )
        key = self._idx_all if workflow_type is None else self._idx_type(workflow_type)
        return key, status is None

    def _statuses_indexed(self) -> bool:
        """Whether the status indexes hold every workflow: the marker says they were built,
        or that the database held no workflow when a store first wrote or listed one (the
        scripts have indexed every workflow since)."""
        if not self._status_ready:
            self._status_ready = self._call(*self._mark_if_empty()) == 1
            self._status_checked = True
        return self._status_ready

    def _mark_if_empty(self) -> Command:
        """The command that sets the marker if no workflow was ever indexed; replies 1 when
        the marker is set (now or before)."""
        return ("EVAL", _MARK_IF_EMPTY, 2, self._status_marker, self._idx_all)

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
            scan = b"0"
            while True:  # ZSCAN: every entry present from start to end is seen
                scan, flat = self._call("ZSCAN", self._idx_all, scan, "COUNT", CHUNK)
                ids = [m for m, _ in _scored(flat)]
                script = ("EVALSHA", self._index_status.sha, 1)
                replies = self._pipeline([(*script, self._base(i.decode()) + "wf") for i in ids])
                done += sum(1 for r in replies if r == 1)
                if scan in (b"0", 0):
                    break
            self._call("SET", self._status_marker, "1")
        self._status_ready = True
        return done


def _scored(reply: Any) -> list[tuple[bytes, float]]:
    """A WITHSCORES reply as (member, score) pairs: pairs under RESP3, flat under RESP2."""
    if reply and isinstance(reply[0], list):
        return [(member, float(score)) for member, score in reply]
    return [(m, float(score)) for m, score in zip(reply[::2], reply[1::2], strict=True)]
