"""SQLite-only behaviour: URLs, files on disk, schema versions, locks and connections."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.store.records import invocation, workflow
from wfcore import LocalRunner, Task
from wfcore._models import Batch, Finish, InvocationRef, SignalTake, Snapshot, WorkflowStatus
from wfcore.errors import ConfigurationError, StoreUnavailableError
from wfcore.store import StateStore, open_store
from wfcore.store._sqlite_layout import SCHEMA_VERSION, SIGNAL_TABLES
from wfcore.store.sqlite import SQLiteStore


def _url(path: Path, query: str = "") -> str:
    return f"sqlite:///{path}{query}"


def test_relative_url_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a working directory with a subdirectory
    monkeypatch.chdir(tmp_path)
    (tmp_path / "state").mkdir()
    # When a store is opened with a three-slash (relative) URL and used
    store = open_store("sqlite:///state/wf.db")
    try:
        store.create_workflow(*workflow("wf-1"))
    finally:
        store.close()
    # Then the file is under the working directory and holds the workflow
    assert isinstance(store, SQLiteStore)
    reopened = SQLiteStore(tmp_path / "state" / "wf.db")
    try:
        assert reopened.get_workflow("wf-1") is not None
    finally:
        reopened.close()


def test_absolute_url_uses_four_slashes(tmp_path: Path) -> None:
    # Given an absolute path (so the URL reads sqlite:////...)
    url = _url(tmp_path / "abs.db")
    assert url.startswith("sqlite:////")
    # When a store is opened from it
    store = open_store(url)
    store.close()
    # Then the file is created at that absolute path
    assert (tmp_path / "abs.db").is_file()


def test_store_uses_wal_journaling(tmp_path: Path) -> None:
    # Given a freshly created store file
    SQLiteStore(tmp_path / "wal.db").close()
    # When another connection reads its journal mode
    raw = sqlite3.connect(tmp_path / "wal.db")
    try:
        mode = raw.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        raw.close()
    # Then it is WAL, which lets readers and one writer work at once across processes
    assert mode == "wal"


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("sqlite://", "names no file"),
        ("sqlite:///", "names no file"),
        ("sqlite:///dir/", "names no file"),
        ("sqlite://host/x.db", "not an SQLite store URL"),
        ("sqlite:///x.db?timeout=soon", "timeout 'soon'"),
        ("sqlite:///x.db?timeout=-1", "timeout '-1'"),
        ("sqlite:///x.db?timeout=nan", "timeout 'nan'"),
        ("sqlite:///x.db?mode=ro", "unknown option 'mode'"),
    ],
)
def test_bad_urls_are_configuration_errors_with_an_example(url: str, complaint: str) -> None:
    # When a malformed URL is opened
    with pytest.raises(ConfigurationError) as caught:
        open_store(url)
    # Then the error says what is wrong, names the URL and shows a correct form
    message = str(caught.value)
    assert complaint in message
    assert url in message
    assert "sqlite:////absolute/path.db" in message


def test_missing_directory_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        open_store(_url(tmp_path / "missing" / "wf.db"))


def test_in_memory_path_is_refused(tmp_path: Path) -> None:
    # A :memory: database would be private to each thread's connection.
    with pytest.raises(ConfigurationError, match="memory://"):
        SQLiteStore(":memory:")


def test_bad_constructor_timeout_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="timeout"):
        SQLiteStore(tmp_path / "wf.db", timeout=-0.5)


def test_newer_schema_version_is_refused(tmp_path: Path) -> None:
    # Given a store file whose schema version was raised by a future wfcore
    path = tmp_path / "future.db"
    SQLiteStore(path).close()
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA user_version = 99")
    raw.close()
    # When it is opened
    with pytest.raises(ConfigurationError) as caught:
        SQLiteStore(path)
    # Then the error names both versions instead of misreading the data
    assert "schema version 99" in str(caught.value)
    assert "upgrade wfcore" in str(caught.value)


_FORKED = ("workflows", "forked_from")


def _downgrade(path: Path, version: int, *columns: tuple[str, str]) -> None:
    """Make the store file at ``path`` look as ``version`` left it: without ``columns``."""
    raw = sqlite3.connect(path)
    for table, column in columns:
        raw.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    if version < 5:  # before the signal tables
        for table in SIGNAL_TABLES:
            raw.execute(f"DROP TABLE {table}")
    raw.execute(f"PRAGMA user_version = {version}")
    raw.commit()
    raw.close()


def _layout(path: Path) -> tuple[int, bool, bool, bool]:
    """The file's schema version, and whether it has invocations.missing, workflows.seed and
    workflows.forked_from."""
    raw = sqlite3.connect(path)
    try:
        version = raw.execute("PRAGMA user_version").fetchone()[0]
        invocations = {row[1] for row in raw.execute("PRAGMA table_info(invocations)")}
        workflows = {row[1] for row in raw.execute("PRAGMA table_info(workflows)")}
    finally:
        raw.close()
    return version, "missing" in invocations, "seed" in workflows, "forked_from" in workflows


def test_a_version_2_file_is_upgraded_and_its_suspended_joins_still_wake_once(
    tmp_path: Path,
) -> None:
    # Given a file as version 2 left it: no invocations.missing column, and an invocation
    # suspended on three outcomes, one of them already recorded
    path = tmp_path / "v2.db"
    store = SQLiteStore(path)
    record, root = workflow("wf-1")
    inv = root.invocation_id
    store.create_workflow(record, root)
    store.load("wf-1", inv)
    store.commit("wf-1", inv, Batch(0, suspend=[0, 1, 2]))
    assert store.record_outcome("wf-1", inv, 0, b"o0").wake is False
    store.close()
    _downgrade(path, 2, ("invocations", "missing"), ("workflows", "seed"), _FORKED)
    # When this version opens it and the last outcomes arrive
    upgraded = SQLiteStore(path)
    try:
        wakes = [upgraded.record_outcome("wf-1", inv, seq, b"o").wake for seq in (1, 2)]
        # Then the column was added, and the last outcome (and only it) wakes the invocation
        assert _layout(path) == (SCHEMA_VERSION, True, True, True)
        assert wakes == [False, True]
        snap = upgraded.load("wf-1", inv, claim=False)
        assert snap is not None
        assert snap.invocation.status is WorkflowStatus.PENDING
    finally:
        upgraded.close()


def test_an_older_file_opened_read_only_reads_as_the_current_schema_and_stays_as_it_was(
    tmp_path: Path,
) -> None:
    # Given a file as version 2 left it (no invocations.missing, no workflows.seed), with a
    # suspended invocation and one recorded outcome
    path = tmp_path / "v2.db"
    store = SQLiteStore(path)
    record, root = workflow("wf-1")
    inv = root.invocation_id
    store.create_workflow(record, root)
    store.load("wf-1", inv)
    store.commit("wf-1", inv, Batch(0, suspend=[0, 1]))
    store.record_outcome("wf-1", inv, 0, b"o0")
    store.close()
    _downgrade(path, 2, ("invocations", "missing"), ("workflows", "seed"), _FORKED)
    # When it is opened read-only (as `wfcore list`/`show` do) and read, from two threads
    reader = SQLiteStore(path, read_only=True)
    try:
        listed = reader.list_workflows()
        snaps: list[Snapshot | None] = []
        thread = threading.Thread(
            target=lambda: snaps.append(reader.load("wf-1", inv, claim=False))
        )
        thread.start()
        thread.join()
    finally:
        reader.close()
    # Then every record reads, old workflows without a seed, and the file was not upgraded
    assert [w.workflow_id for w in listed] == ["wf-1"]
    assert listed[0].seed is None
    assert listed[0].forked_from is None
    [snap] = snaps
    assert snap is not None
    assert snap.invocation.waiting == (0, 1)
    assert snap.outcomes == {0: b"o0"}
    assert _layout(path) == (2, False, False, False)


def _tables(path: Path) -> set[str]:
    raw = sqlite3.connect(path)
    try:
        return {row[0] for row in raw.execute("SELECT name FROM sqlite_master")}
    finally:
        raw.close()


def test_a_version_4_file_gets_the_signal_tables_and_its_waits_work(tmp_path: Path) -> None:
    # Given a file as version 4 left it (no signal tables) with a running workflow and data
    path = tmp_path / "v4.db"
    store = SQLiteStore(path)
    record, root = workflow("wf-1")
    inv = root.invocation_id
    store.create_workflow(record, root)
    store.load("wf-1", inv)
    store.commit("wf-1", inv, Batch(0, [b"e"], data={"k": b"v"}))
    store.close()
    _downgrade(path, 4, _FORKED)
    assert not _tables(path) & set(SIGNAL_TABLES)
    # When it is opened read-only (the inspecting CLI), then read-write
    reader = SQLiteStore(path, read_only=True)
    try:
        data = reader.list_data("wf-1")
    finally:
        reader.close()
    untouched = _tables(path)
    upgraded = SQLiteStore(path)
    try:
        upgraded.commit("wf-1", inv, Batch(1, [b"w"], signal=SignalTake("go", 1, True)))
        sent = upgraded.send_signal("wf-1", "go", b"s1", signal_id="t-1")
    finally:
        upgraded.close()
    # Then the read-only open read its data and left it as it was; the upgrade added the
    # tables, and a wait registered there gets its signal
    assert data == {"k": b"v"}
    assert not untouched & set(SIGNAL_TABLES)
    assert _layout(path)[0] == SCHEMA_VERSION
    assert set(SIGNAL_TABLES) <= _tables(path)
    assert (sent.accepted, sent.waiter is not None) == (True, True)


def _drawing_runner(store: StateStore) -> tuple[LocalRunner, Task[[], tuple[str, str]]]:
    """A runner whose workflow draws a uuid, waits for a child, then draws another."""
    runner = LocalRunner(store)

    @runner.task(name="seeds.child")
    def child() -> int:
        return 1

    @runner.task(name="seeds.flow")
    def flow() -> tuple[str, str]:
        before = flow.wf.uuid()
        flow.wf.execute_task(child)
        return before, flow.wf.uuid()

    return runner, flow


def test_a_version_3_file_gets_seeds_and_its_workflows_keep_their_values(
    tmp_path: Path,
) -> None:
    # Given a file as version 3 left it (no workflows.seed column) holding a suspended workflow
    # that drew a value before it suspended
    path = tmp_path / "v3.db"
    runner, flow = _drawing_runner(SQLiteStore(path))
    workflow_id = runner.start(flow)
    assert runner.step() is not None  # the parent draws, starts its child and suspends
    [drawn] = [e.value for e in runner.engine.history(workflow_id) if e.kind == "uuid"]
    runner.store.close()
    _downgrade(path, 3, ("workflows", "seed"), _FORKED)
    # When this version opens it and the workflow goes on (its child's message is resent)
    upgraded = SQLiteStore(path)
    try:
        resumed, flow = _drawing_runner(upgraded)
        resumed.enqueue(InvocationRef(workflow_id, f"{workflow_id}.1", "seeds.child"))
        resumed.run_until_idle()
        before, after = resumed.engine.result(workflow_id)
        # Then the column was added, the old workflow has no seed and kept its recorded value
        assert _layout(path) == (SCHEMA_VERSION, True, True, True)
        legacy = upgraded.get_workflow(workflow_id)
        assert legacy is not None
        assert legacy.seed is None
        assert before == drawn
        assert after != before
        # And a new workflow gets a seed that survives reopening the file
        fresh = resumed.start(flow)
        stored = upgraded.get_workflow(fresh)
        assert stored is not None
        assert stored.seed is not None
    finally:
        upgraded.close()
    reopened = SQLiteStore(path)
    try:
        again = reopened.get_workflow(fresh)
        assert again is not None
        assert again.seed == stored.seed
    finally:
        reopened.close()


def test_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    # Given a file of text where the database should be
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    # When it is opened as a store
    with pytest.raises(StoreUnavailableError) as caught:
        open_store(_url(path))
    # Then the typed error says so, with the raw sqlite3 error kept as the cause
    assert "is not an SQLite database" in str(caught.value)
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)
    assert path.read_bytes().startswith(b"these are my notes")


def test_everything_survives_reopening_the_file(tmp_path: Path) -> None:
    # Given a store holding a finished root, a suspended-then-woken child, data and outcomes
    url = _url(tmp_path / "durable.db")
    first = open_store(url, retention=60.0)
    record, root = workflow("wf-1")
    inv = root.invocation_id
    first.create_workflow(record, root)
    first.load("wf-1", inv)
    child = invocation("wf-1", "c1", parent_invocation_id=inv, parent_seq=0)
    first.commit("wf-1", inv, Batch(0, [b"e0", b"e1"], data={"k": b"v"}, children=[child]))
    first.commit("wf-1", "c1", Batch(0, suspend=[3, 5]))
    first.record_outcome("wf-1", "c1", 3, b"o3")
    first.record_outcome("wf-1", "c1", 5, b"o5")
    first.commit("wf-1", inv, Batch(2, finish=Finish(WorkflowStatus.COMPLETED, b"done")))
    expected = (
        first.load("wf-1", inv, claim=False),
        first.load("wf-1", "c1", claim=False),
        first.list_invocations("wf-1"),
    )
    first.close()
    # When a new store instance opens the same file
    second = open_store(url, retention=60.0)
    try:
        again = (
            second.load("wf-1", inv, claim=False),
            second.load("wf-1", "c1", claim=False),
            second.list_invocations("wf-1"),
        )
        # Then every record, history, outcome and value reads back identically
        assert again == expected
        assert second.read_data("wf-1", "k") == b"v"
        assert again[1] is not None
        assert again[1].outcomes == {3: b"o3", 5: b"o5"}
        assert again[1].invocation.status is WorkflowStatus.PENDING
        # And the retention deadline was stored too
        assert second.purge_expired(time.time() + 120) == 1
    finally:
        second.close()


_CALLS: list[tuple[str, Callable[[StateStore], object]]] = [
    ("create_workflow", lambda s: s.create_workflow(*workflow("wf-2"))),
    ("get_workflow", lambda s: s.get_workflow("wf-1")),
    ("list_workflows", lambda s: s.list_workflows()),
    ("child_workflows", lambda s: s.child_workflows("wf-1")),
    ("get_invocation", lambda s: s.get_invocation("wf-1", "wf-1-root")),
    ("list_invocations", lambda s: s.list_invocations("wf-1")),
    ("load", lambda s: s.load("wf-1", "wf-1-root")),
    ("read_data", lambda s: s.read_data("wf-1", "k")),
    ("list_data", lambda s: s.list_data("wf-1")),
    ("send_signal", lambda s: s.send_signal("wf-1", "go", b"x")),
    ("commit", lambda s: s.commit("wf-1", "wf-1-root", Batch(0, [b"x"]))),
    ("record_outcome", lambda s: s.record_outcome("wf-1", "wf-1-root", 0, b"x")),
    ("request_cancel", lambda s: s.request_cancel("wf-1")),
    ("purge_expired", lambda s: s.purge_expired(time.time())),
    ("ping", lambda s: s.ping()),
]


@pytest.mark.parametrize(("name", "call"), _CALLS, ids=[name for name, _ in _CALLS])
def test_every_method_of_a_closed_store_raises_unavailable(
    tmp_path: Path, name: str, call: Callable[[StateStore], object]
) -> None:
    # Given a store that was used, then closed (twice: closing is idempotent)
    store = open_store(_url(tmp_path / "closed.db"))
    store.create_workflow(*workflow("wf-1"))
    store.close()
    store.close()
    # When any method is called, Then it raises the typed error saying the store is closed
    with pytest.raises(StoreUnavailableError, match="closed"):
        call(store)


def test_close_closes_the_connections_of_every_thread(tmp_path: Path) -> None:
    # Given a store used from several threads, each with its own connection
    path = tmp_path / "threads.db"
    store = SQLiteStore(path)
    store.create_workflow(*workflow("wf-1"))
    threads = [threading.Thread(target=store.load, args=("wf-1", "wf-1-root")) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Path(f"{path}-wal").exists()
    # When the store is closed
    store.close()
    # Then the last connection checkpointed and removed the WAL: none was left open
    assert not Path(f"{path}-wal").exists()
    reopened = SQLiteStore(path)
    try:
        snapshot = reopened.load("wf-1", "wf-1-root", claim=False)
    finally:
        reopened.close()
    assert snapshot is not None
    assert snapshot.invocation.attempts == 4


def test_threads_racing_on_one_seq_have_one_winner(tmp_path: Path) -> None:
    # Given one store shared by threads that each write their own entry at seq 0
    store = SQLiteStore(tmp_path / "race.db")
    store.create_workflow(*workflow("wf-1"))
    start = threading.Barrier(8)
    won: dict[int, bool] = {}

    def write(i: int) -> None:
        start.wait()
        won[i] = store.commit("wf-1", "wf-1-root", Batch(0, [f"w{i}".encode()])).ok

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    # When they race
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then exactly one won and the history holds exactly its entry
    try:
        winners = [i for i, ok in won.items() if ok]
        assert len(winners) == 1
        snapshot = store.load("wf-1", "wf-1-root", claim=False)
        assert snapshot is not None
        assert snapshot.entries == [f"w{winners[0]}".encode()]
    finally:
        store.close()


def test_lock_held_past_the_timeout_is_unavailable(tmp_path: Path) -> None:
    # Given a store with a 0.2 s lock timeout and another connection holding the write lock
    path = tmp_path / "locked.db"
    store = open_store(_url(path, "?timeout=0.2"))
    store.create_workflow(*workflow("wf-1"))
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        # When the store tries to write
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError) as caught:
            store.commit("wf-1", "wf-1-root", Batch(0, [b"x"]))
        waited = time.monotonic() - started
        # Then it waited about the timeout and says the database stayed locked that long
        assert 0.15 <= waited < 1.0
        assert "stayed locked for 0.2 s" in str(caught.value)
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
        # And reads still work while the writer holds its lock (WAL)
        assert store.get_workflow("wf-1") is not None
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    # And once the lock is released the same store writes again, nothing half-applied
    try:
        assert store.commit("wf-1", "wf-1-root", Batch(0, [b"x"])).ok
    finally:
        store.close()


def test_a_version_5_file_gets_fork_lineage_and_reads_read_only_before(tmp_path: Path) -> None:
    # Given a file as version 5 left it (no workflows.forked_from) holding one workflow
    path = tmp_path / "v5.db"
    store = SQLiteStore(path)
    record, root = workflow("wf-1")
    store.create_workflow(record, root)
    store.close()
    _downgrade(path, 5, _FORKED)
    # When it is read read-only, then opened by this version and a fork is created in it
    reader = SQLiteStore(path, read_only=True)
    try:
        [old] = reader.list_workflows()
    finally:
        reader.close()
    assert _layout(path) == (5, True, True, False)
    upgraded = SQLiteStore(path)
    try:
        fork, fork_root = workflow("fork-1")
        fork = fork.model_copy(update={"forked_from": "wf-1"})
        upgraded.create_fork(fork, fork_root, [b"e"], {}, {})
        # Then the old workflow reads without lineage and the column was added for the fork
        assert old.forked_from is None
        assert _layout(path) == (SCHEMA_VERSION, True, True, True)
        stored = upgraded.get_workflow("fork-1")
        assert stored is not None
        assert stored.forked_from == "wf-1"
    finally:
        upgraded.close()
