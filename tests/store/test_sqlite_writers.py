"""SQLiteStore's writers in one process queue on a lock of their own before SQLite's file
lock (whose busy wait sleeps for milliseconds), shared by every store on the file; the
writes of threads that arrive while a transaction runs share the next one (group commit)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import pytest

from tests.store.records import workflow
from wfcore._models import Batch
from wfcore.errors import StoreUnavailableError
from wfcore.store._sqlite_group import GroupCommit, Write
from wfcore.store._sqlite_layout import INSERT_WF, wf_values
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


# -- group commit: writes of threads arriving while a transaction runs share the next one --


def _hold_the_lead(store: SQLiteStore) -> tuple[threading.Thread, threading.Event]:
    """A thread leading a write that waits for the returned event: every write made
    meanwhile queues, and joins its transaction once the event is set."""
    started, release = threading.Event(), threading.Event()

    def lead(conn: object) -> None:
        started.set()
        release.wait(10)

    def run() -> None:
        with suppress(StoreUnavailableError):  # a test may fail the shared transaction
            store._written(lead)

    leader = threading.Thread(target=run)
    leader.start()
    assert started.wait(10)
    return leader, release


def _queued(
    group: GroupCommit, writes: dict[str, object]
) -> tuple[list[threading.Thread], dict[str, object]]:
    """Start one thread per write, in order, each waiting until its write queues behind the
    running leader; their outcomes (value or exception) by name."""
    outcomes: dict[str, object] = {}

    def run(name: str, fn: object) -> None:
        try:
            outcomes[name] = group.run(fn)  # type: ignore[arg-type]
        except BaseException as exc:  # checked by the test
            outcomes[name] = exc

    threads = [threading.Thread(target=run, args=item) for item in writes.items()]
    for queued, t in enumerate(threads, 1):
        t.start()
        while len(group._pending) < queued:  # keep the queue's order
            time.sleep(0.001)
    return threads, outcomes


def _insert(workflow_id: str, fail: BaseException | None = None) -> object:
    record, _root = workflow(workflow_id)

    def write(conn: sqlite3.Connection) -> str:
        conn.execute(INSERT_WF, wf_values(record))
        if fail is not None:
            raise fail
        return workflow_id

    return write


def test_a_failing_write_in_a_shared_transaction_is_undone_alone(tmp_path: Path) -> None:
    # Given a leader holding the transaction and three writes queued behind it, the middle
    # one failing after it wrote
    store = SQLiteStore(tmp_path / "s.db")
    leader, release = _hold_the_lead(store)
    threads, outcomes = _queued(
        store._group,
        {"a": _insert("wf-a"), "b": _insert("wf-b", ValueError("bad")), "c": _insert("wf-c")},
    )
    # When the leader lets go and they commit together
    release.set()
    for t in [leader, *threads]:
        t.join(10)
    # Then the failing write raised its own error and left nothing; the others committed
    assert outcomes["a"] == "wf-a"
    assert outcomes["c"] == "wf-c"
    assert isinstance(outcomes["b"], ValueError)
    assert str(outcomes["b"]) == "bad"
    assert store.get_workflow("wf-a") is not None
    assert store.get_workflow("wf-c") is not None
    assert store.get_workflow("wf-b") is None
    store.close()


def test_a_shared_transaction_that_fails_as_a_whole_fails_every_write_in_it(
    tmp_path: Path,
) -> None:
    # Given three writes queued behind a leader, the second ending the whole transaction
    # (as SQLite does on some errors) before it fails
    store = SQLiteStore(tmp_path / "s.db")

    def end_it(conn: sqlite3.Connection) -> None:
        conn.execute(INSERT_WF, wf_values(workflow("wf-b")[0]))
        conn.execute("ROLLBACK")
        raise sqlite3.OperationalError("disk I/O error")

    leader, release = _hold_the_lead(store)
    threads, outcomes = _queued(
        store._group, {"a": _insert("wf-a"), "b": end_it, "c": _insert("wf-c")}
    )
    # When they run together
    release.set()
    for t in [leader, *threads]:
        t.join(10)
    # Then none of them is reported done (each gets its own copy of the error) and none is
    # stored, not even the one that ran before the failure
    errors = [outcomes[name] for name in "abc"]
    assert all(isinstance(e, StoreUnavailableError) for e in errors), errors
    assert all("disk I/O error" in str(e) for e in errors)
    assert len({id(e) for e in errors}) == 3
    assert [store.get_workflow(w) for w in ("wf-a", "wf-b", "wf-c")] == [None, None, None]
    # And the store writes again afterwards
    assert store._written(_insert("wf-d")) == "wf-d"  # type: ignore[arg-type]
    store.close()


def test_writes_that_raced_on_one_seq_in_a_shared_transaction_have_one_winner(
    tmp_path: Path,
) -> None:
    # Given three commits at seq 0 of one history queued behind a leader
    store = SQLiteStore(tmp_path / "s.db")
    store.create_workflow(*workflow("wf-1"))

    def commit(i: int) -> object:
        batch = Batch(0, [f"w{i}".encode()])
        return lambda conn: store._apply(conn, "wf-1", "wf-1-root", batch)

    leader, release = _hold_the_lead(store)
    threads, outcomes = _queued(store._group, {str(i): commit(i) for i in range(3)})
    release.set()
    for t in [leader, *threads]:
        t.join(10)
    # Then the first in the queue won, the others see its entry as the winner
    assert [outcomes[str(i)].ok for i in range(3)] == [True, False, False]  # type: ignore[attr-defined]
    assert outcomes["1"].winners == [b"w0"]  # type: ignore[attr-defined]
    snapshot = store.load("wf-1", "wf-1-root", claim=False)
    assert snapshot is not None
    assert snapshot.entries == [b"w0"]
    store.close()


def test_an_interrupted_leader_fails_the_writes_it_held_and_lets_go_of_the_lead() -> None:
    # Given a group whose transactions run each write in turn, and a leader holding one
    # while two writes queue, the first of them interrupting the thread running it
    class Interrupt(BaseException):
        pass

    def execute(batch: list[Write[object]], more: Callable[[], list[Write[object]]]) -> None:
        more()
        for write in batch:
            write.succeed(write.fn(None))

    group = GroupCommit(execute, lambda e: StoreUnavailableError(f"interrupted: {e!r}"))
    started, release = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def run(name: str, fn: Callable[[object], object]) -> None:
        try:
            outcomes[name] = group.run(fn)
        except BaseException as exc:  # checked below
            outcomes[name] = exc

    def interrupt(conn: object) -> None:
        raise Interrupt

    def hold(conn: object) -> str:
        started.set()
        release.wait(10)
        return "led"

    leader = threading.Thread(target=run, args=("leader", hold))
    leader.start()
    assert started.wait(10)
    queued, held = _queued(group, {"x": interrupt, "y": lambda c: "y"})
    # When the leader runs them
    release.set()
    for t in [leader, *queued]:
        t.join(10)
    # Then the interruption reaches the leader's thread (its own write was done before),
    # and each write it held fails as interrupted: none is reported done
    assert isinstance(outcomes["leader"], Interrupt)
    assert isinstance(held["x"], StoreUnavailableError)
    assert isinstance(held["y"], StoreUnavailableError)
    assert "interrupted" in str(held["y"])
    # And the group is free: the next write leads and runs
    assert group.run(lambda c: "next") == "next"


def test_a_forked_child_does_not_inherit_a_lead_held_in_its_parent(tmp_path: Path) -> None:
    # Given a group whose lead a thread held when the process forked (simulated: the
    # group's state says leading, and its pid is another process's)
    store = SQLiteStore(tmp_path / "s.db")
    store._group._leading = True
    store._group._pid = -1
    # When this process writes, Then it leads its own write instead of waiting forever
    assert store._written(_insert("wf-a")) == "wf-a"  # type: ignore[arg-type]
    assert store.get_workflow("wf-a") is not None
    store.close()
