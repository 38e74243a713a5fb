"""Listing on stores written before its indexes: SQLite schema 6 files, Redis databases
without the status indexes."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from tests.store.records import workflow
from tests.store.test_listing_conformance import _finish, _seed
from wfcore._models import Batch, WorkflowStatus
from wfcore.store._sqlite_layout import SCHEMA_VERSION
from wfcore.store.incremental import EMPTY_MARK, HistoryMark
from wfcore.store.listing import list_page
from wfcore.store.redis import RedisStore
from wfcore.store.sqlite import SQLiteStore

_OLD_INDEXES = (
    "CREATE INDEX workflows_by_created ON workflows (created_at)",
    "CREATE INDEX workflows_by_status ON workflows (status, created_at)",
    "CREATE INDEX workflows_by_type ON workflows (workflow_type, created_at)",
)


def _as_version_7(path: Path) -> None:
    """Make the file look as schema version 7 left it: no history epochs."""
    raw = sqlite3.connect(path)
    raw.execute("ALTER TABLE invocations DROP COLUMN history_epoch")
    raw.execute("PRAGMA user_version = 7")
    raw.commit()
    raw.close()


def _as_version_6(path: Path) -> None:
    """Make the file look as schema version 6 left it: the old listing indexes (and, as 7,
    no history epochs)."""
    _as_version_7(path)
    raw = sqlite3.connect(path)
    listed = "SELECT name FROM sqlite_master WHERE name LIKE 'workflows_listed%'"
    for name in [row[0] for row in raw.execute(listed)]:
        raw.execute(f"DROP INDEX {name}")
    for statement in _OLD_INDEXES:
        raw.execute(statement)
    raw.execute("PRAGMA user_version = 6")
    raw.commit()
    raw.close()


def _has_epochs(path: Path) -> bool:
    raw = sqlite3.connect(path)
    try:
        return "history_epoch" in {row[1] for row in raw.execute("PRAGMA table_info(invocations)")}
    finally:
        raw.close()


def _indexes(path: Path) -> tuple[int, set[str]]:
    raw = sqlite3.connect(path)
    try:
        version = raw.execute("PRAGMA user_version").fetchone()[0]
        names = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        raw.close()
    return version, {n for n in names if n.startswith("workflows_")}


def test_a_version_6_file_lists_read_only_and_is_upgraded_to_the_listing_indexes(
    tmp_path: Path,
) -> None:
    # Given a file as version 6 left it, holding workflows some of which completed
    path = tmp_path / "v6.db"
    store = SQLiteStore(path)
    _seed(store, 12)
    for wid in ("wf-003", "wf-007", "wf-010"):
        _finish(store, wid, WorkflowStatus.COMPLETED)
    want = [w.workflow_id for w in store.list_workflows(status=WorkflowStatus.COMPLETED)]
    store.close()
    _as_version_6(path)
    # When it is paged read-only (as `wfcore list` does)
    reader = SQLiteStore(path, read_only=True)
    try:
        first = list_page(reader, status=WorkflowStatus.COMPLETED, limit=2)
        rest = list_page(reader, status=WorkflowStatus.COMPLETED, limit=5, cursor=first.next_cursor)
    finally:
        reader.close()
    # Then it lists correctly and stays as it was
    assert [w.workflow_id for w in first.workflows + rest.workflows] == want
    version, names = _indexes(path)
    assert version == 6
    assert "workflows_by_status" in names
    # And opened read-write it becomes the current version (6 -> 7 -> 8): the old indexes
    # replaced by the new ones, which the listing uses, and history epochs added
    upgraded = SQLiteStore(path)
    try:
        again = [w.workflow_id for w in upgraded.list_workflows(status=WorkflowStatus.COMPLETED)]
    finally:
        upgraded.close()
    assert again == want
    version, names = _indexes(path)
    assert version == SCHEMA_VERSION == 8
    assert _has_epochs(path)
    assert not names & {"workflows_by_created", "workflows_by_status", "workflows_by_type"}
    assert {
        "workflows_listed",
        "workflows_listed_by_status",
        "workflows_listed_by_type",
        "workflows_listed_by_status_type",
    } <= names
    raw = sqlite3.connect(path)
    plan = raw.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM workflows WHERE status = 'COMPLETED'"
        " AND (created_at, workflow_id) < (1e9, 'x') ORDER BY created_at DESC, workflow_id DESC"
        " LIMIT 50"
    ).fetchall()
    raw.close()
    assert "workflows_listed_by_status" in str(plan)
    assert "TEMP B-TREE" not in str(plan)


def test_a_version_7_file_loads_incrementally_read_only_and_is_upgraded_to_epochs(
    tmp_path: Path,
) -> None:
    # Given a file as version 7 left it (listing indexes, no history epochs), with a history
    path = tmp_path / "v7.db"
    store = SQLiteStore(path)
    _seed(store, 1)
    store.load("wf-000", "wf-000-root")
    store.commit("wf-000", "wf-000-root", Batch(0, [b"op0", b"op1", b"op2"]))
    store.close()
    _as_version_7(path)
    mark = HistoryMark(0, 2, b"op1", ())
    # When it is read past a mark read-only
    reader = SQLiteStore(path, read_only=True)
    try:
        delta = reader.load_since("wf-000", "wf-000-root", mark, claim=False)
        whole = reader.load_since("wf-000", "wf-000-root", EMPTY_MARK, claim=False)
    finally:
        reader.close()
    # Then it reads what follows the mark at epoch 0, and the file stays as it was
    assert delta is not None
    assert whole is not None
    assert (delta.epoch, delta.tail) == (0, [b"op1", b"op2"])
    assert whole.tail == [b"op0", b"op1", b"op2"]
    assert _indexes(path)[0] == 7
    assert not _has_epochs(path)
    # And opened read-write it becomes version 8, its old rows at epoch 0
    upgraded = SQLiteStore(path)
    try:
        again = upgraded.load_since("wf-000", "wf-000-root", mark)
    finally:
        upgraded.close()
    assert again is not None
    assert (again.epoch, again.tail) == (0, [b"op1", b"op2"])
    assert _indexes(path)[0] == SCHEMA_VERSION
    assert _has_epochs(path)


# -- Redis ---------------------------------------------------------------------------------


def _drop_status_indexes(raw: redis.Redis, prefix: str) -> int:
    keys = list(raw.scan_iter(match=f"{prefix}:idx:status:*"))
    return raw.delete(*keys) if keys else 0


@pytest.mark.redis
def test_a_redis_database_without_status_indexes_lists_correctly_then_is_upgraded(
    make: Callable[..., RedisStore],
    raw: redis.Redis,
    prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given workflows written before the status indexes existed (simulated: dropped)
    writer = make()
    _seed(writer, 20)
    for wid in ("wf-002", "wf-009", "wf-015"):
        _finish(writer, wid, WorkflowStatus.COMPLETED)
    assert _drop_status_indexes(raw, prefix) > 0
    old = make()
    # When a new process lists by status, and one more workflow completes meanwhile
    _finish(old, "wf-011", WorkflowStatus.COMPLETED)
    with caplog.at_level(logging.WARNING, logger="wfcore.store"):
        pages = [list_page(old, status=WorkflowStatus.COMPLETED, limit=3)]
        pages.append(
            list_page(old, status=WorkflowStatus.COMPLETED, limit=3, cursor=pages[0].next_cursor)
        )
    # Then it is complete and correct (by scanning), and says how to build the indexes
    listed = [w.workflow_id for p in pages for w in p.workflows]
    assert listed == ["wf-015", "wf-011", "wf-009", "wf-002"]
    assert "wfcore upgrade" in caplog.text
    # When the indexes are built
    assert old.index_statuses() == 20
    # Then listing reads them: the same answer, now from idx:status:COMPLETED
    fresh = make()
    by_type = fresh.list_workflows(status=WorkflowStatus.COMPLETED, workflow_type="refund")
    assert [w.workflow_id for w in by_type] == ["wf-015", "wf-011", "wf-009"]
    members = raw.zrevrange(f"{prefix}:idx:status:COMPLETED", 0, -1)
    assert members == [wid.encode() for wid in listed]
    assert raw.zcard(f"{prefix}:idx:status:PENDING") == 16
    assert raw.get(f"{prefix}:idx:status:ready") == b"1"


@pytest.mark.redis
def test_a_fresh_redis_database_is_indexed_from_the_first_workflow(
    make: Callable[..., RedisStore], raw: redis.Redis, prefix: str
) -> None:
    # Given an empty database: its first listing marks the status indexes as complete
    store = make()
    assert store.list_workflows(status=WorkflowStatus.PENDING) == []
    assert raw.get(f"{prefix}:idx:status:ready") == b"1"
    # When workflows are created and change status
    record, root = workflow("wf-1", workflow_type="order")
    store.create_workflow(record, root)
    _finish(store, "wf-1", WorkflowStatus.FAILED)
    # Then the scripts kept the indexes exact, by status and by status and type
    assert raw.zrange(f"{prefix}:idx:status:FAILED", 0, -1) == [b"wf-1"]
    assert raw.zrange(f"{prefix}:idx:status:FAILED:type:order", 0, -1) == [b"wf-1"]
    assert raw.zcard(f"{prefix}:idx:status:PENDING") == 0
    assert raw.zcard(f"{prefix}:idx:status:RUNNING:type:order") == 0


@pytest.mark.redis
def test_the_first_creations_of_a_store_may_race(
    make: Callable[..., RedisStore], raw: redis.Redis, prefix: str
) -> None:
    # Given a fresh store whose first creations come from many threads at once (the first
    # one of each thread checks the database is new, with the same round trip)
    store = make()
    start = threading.Barrier(8)

    def create(i: int) -> bool:
        record, root = workflow(f"wf-{i}")
        start.wait()
        return store.create_workflow(record, root)[1]

    with ThreadPoolExecutor(8) as pool:
        created = list(pool.map(create, range(8)))
    # Then every one was created, the indexes marked complete and exact
    assert created == [True] * 8
    assert raw.get(f"{prefix}:idx:status:ready") == b"1"
    assert store.count_workflows(WorkflowStatus.PENDING) == 8
