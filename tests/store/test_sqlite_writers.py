"""SQLiteStore's writers in one process queue on a lock of their own before SQLite's file
lock (whose busy wait sleeps for milliseconds), shared by every store on the file."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.store.records import workflow
from wfcore.errors import StoreUnavailableError
from wfcore.store.sqlite import SQLiteStore


def test_threads_writing_at_once_all_get_through(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    errors: list[BaseException] = []

    def create(n: int) -> None:
        try:
            for i in range(25):
                record, root = workflow(f"wf-{n}-{i}")
                store.create_workflow(record, root)
                store.load(record.workflow_id, root.invocation_id)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.list_workflows(limit=1000)) == 200
    store.close()


def test_two_stores_on_one_file_share_the_lock(tmp_path: Path) -> None:
    a, b = SQLiteStore(tmp_path / "s.db"), SQLiteStore(str(tmp_path / "." / "s.db"))
    assert a._writers is b._writers
    a.close()
    b.close()


def test_a_writer_lock_held_past_the_timeout_is_a_clear_error(tmp_path: Path) -> None:
    # Given a store with a short timeout whose write lock another thread holds
    store = SQLiteStore(tmp_path / "s.db", timeout=0.1)
    record, root = workflow("wf-1")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store._writers:
            held.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    try:
        # When a write is tried, Then it fails naming the store, the wait and the fix
        with pytest.raises(StoreUnavailableError, match=r"held the write lock for over 0\.1 s"):
            store.create_workflow(record, root)
    finally:
        release.set()
        holder.join()
    # And nothing was written; the store works once the lock is free
    assert store.get_workflow("wf-1") is None
    assert store.create_workflow(record, root)[1]
    store.close()
