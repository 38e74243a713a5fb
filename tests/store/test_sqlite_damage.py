"""SQLite files changed outside wfcore, and files opened read-only."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.store.records import workflow
from wfcore._models import Batch
from wfcore.errors import ConfigurationError, DecodeError, StoreError
from wfcore.store import open_store
from wfcore.store.sqlite import SQLiteStore


def _suspended(path: Path, *workflow_ids: str) -> SQLiteStore:
    """A store whose workflows' roots are suspended on outcomes 0 and 1."""
    store = SQLiteStore(path)
    for workflow_id in workflow_ids:
        record, root = workflow(workflow_id, created_at=time.time() - 600)
        store.create_workflow(record, root)
        store.load(workflow_id, root.invocation_id)
        store.commit(workflow_id, root.invocation_id, Batch(0, suspend=[0, 1]))
    return store


def _set(path: Path, sql: str, *params: object) -> None:
    raw = sqlite3.connect(path)
    raw.execute(sql, params)
    raw.commit()
    raw.close()


@pytest.mark.parametrize("waiting", ["garbage", "[1, 'x']", "{}", "[true]"])
def test_a_waiting_column_that_is_not_a_list_of_seqs_is_a_decode_error(
    tmp_path: Path, waiting: str
) -> None:
    # Given two suspended workflows, one of whose 'waiting' column was overwritten
    path = tmp_path / "damaged.db"
    store = _suspended(path, "wf-bad", "wf-good")
    _set(path, "UPDATE invocations SET waiting = ? WHERE workflow_id = 'wf-bad'", waiting)
    try:
        # When its invocation is read, then a typed error names the row and the column
        for read in (
            lambda: store.get_invocation("wf-bad", "wf-bad-root"),
            lambda: store.load("wf-bad", "wf-bad-root", claim=False),
            lambda: store.list_invocations("wf-bad"),
        ):
            with pytest.raises(DecodeError) as caught:
                read()
            message = str(caught.value)
            assert "'wf-bad-root'" in message
            assert "'wf-bad'" in message
            assert "'waiting'" in message
        # And nothing else is affected: the other workflow reads, the listing works, and
        # the damaged row was not rewritten
        assert store.get_invocation("wf-good", "wf-good-root") is not None
        assert {w.workflow_id for w in store.list_workflows()} == {"wf-bad", "wf-good"}
    finally:
        store.close()
    raw = sqlite3.connect(path)
    assert raw.execute(
        "SELECT waiting FROM invocations WHERE workflow_id = 'wf-bad'"
    ).fetchall() == [(waiting,)]
    raw.close()


def test_the_recovery_sweep_skips_a_damaged_row_and_claims_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "sweep.db"
    _suspended(path, "wf-bad", "wf-good").close()
    _set(path, "UPDATE invocations SET waiting = 'garbage' WHERE workflow_id = 'wf-bad'")
    _set(path, "UPDATE invocations SET updated_at = 0")
    store = SQLiteStore(path)
    try:
        with caplog.at_level(logging.ERROR, logger="wfcore.store.sqlite"):
            claimed = store.recover_candidates(older_than=10, now=time.time())
        assert [inv.workflow_id for inv in claimed] == ["wf-good"]
        assert "'wf-bad'" in caplog.text
    finally:
        store.close()


_DAMAGE: list[tuple[str, str, Callable[[SQLiteStore], object], str]] = [
    # A row suspended by a version that did not count (missing IS NULL), then damaged: the
    # outcome that arrives for it must name the column, not say "malformed JSON".
    (
        "old waiting",
        "UPDATE invocations SET waiting = '[0,1', missing = NULL",
        lambda s: s.record_outcome("wf-1", "wf-1-root", 0, b"o"),
        "'waiting'",
    ),
    (
        "workflow status",
        "UPDATE workflows SET status = 'NAPPING'",
        lambda s: s.get_workflow("wf-1"),
        "'status'",
    ),
    (
        "workflow created_at",
        "UPDATE workflows SET created_at = 'yesterday'",
        lambda s: s.get_workflow("wf-1"),
        "'created_at'",
    ),
    (
        "invocation status",
        "UPDATE invocations SET status = 'NAPPING'",
        lambda s: s.get_invocation("wf-1", "wf-1-root"),
        "'status'",
    ),
]


@pytest.mark.parametrize(
    ("sql", "read", "column"), [d[1:] for d in _DAMAGE], ids=[d[0] for d in _DAMAGE]
)
def test_other_damaged_columns_are_decode_errors_naming_them(
    tmp_path: Path, sql: str, read: Callable[[SQLiteStore], object], column: str
) -> None:
    path = tmp_path / "cols.db"
    _suspended(path, "wf-1").close()
    _set(path, sql)
    store = SQLiteStore(path)
    try:
        with pytest.raises(DecodeError) as caught:
            read(store)
        assert column in str(caught.value)
        assert "'wf-1'" in str(caught.value)
    finally:
        store.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_read_only_store_reads_and_refuses_every_write(tmp_path: Path) -> None:
    # Given a store file with a suspended workflow
    path = tmp_path / "ro.db"
    _suspended(path, "wf-1").close()
    before = _digest(path)
    # When it is opened read-only
    store = open_store(f"sqlite:///{path}", read_only=True)
    try:
        # Then it reads
        assert store.get_workflow("wf-1") is not None
        snap = store.load("wf-1", "wf-1-root", claim=False)
        assert snap is not None
        assert snap.invocation.waiting == (0, 1)
        # And every write is a StoreError saying it was opened read-only
        for write in (
            lambda: store.request_cancel("wf-1"),
            lambda: store.record_outcome("wf-1", "wf-1-root", 0, b"o"),
            lambda: store.load("wf-1", "wf-1-root"),
            lambda: store.create_workflow(*workflow("wf-2")),
        ):
            with pytest.raises(StoreError, match="opened read-only"):
                write()
    finally:
        store.close()
    # And the file is unchanged
    assert _digest(path) == before


def test_read_only_needs_an_existing_wfcore_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    with pytest.raises(ConfigurationError, match="no SQLite store file"):
        open_store(f"sqlite:///{missing}", read_only=True)
    assert not missing.exists()
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(ConfigurationError, match="holds no wfcore store"):
        open_store(f"sqlite:///{empty}", read_only=True)
    assert empty.read_bytes() == b""
