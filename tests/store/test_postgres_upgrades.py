"""PostgreSQL schemas of older versions: read read-only as they are, migrated by a process
that opens them for writing. Version 1 had listing indexes tied by insertion order (2: the
keyset indexes, which the listing's queries use); version 2 had no history epochs (3)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.store.test_listing_conformance import _finish, _seed
from wfcore._models import Batch, WorkflowStatus
from wfcore.store._postgres_layout import LISTING_INDEXES, SCHEMA_VERSION
from wfcore.store._sql_listing import listing_query
from wfcore.store.incremental import EMPTY_MARK, HistoryMark
from wfcore.store.listing import list_page
from wfcore.store.postgres import PostgresStore

pytestmark = pytest.mark.postgres

_VERSION_1_INDEXES = (
    "CREATE INDEX workflows_by_created ON workflows (created_at DESC, ord)",
    "CREATE INDEX workflows_by_status ON workflows (status, created_at DESC, ord)",
    "CREATE INDEX workflows_by_type ON workflows (workflow_type, created_at DESC, ord)",
)


def _connect(url: str) -> psycopg.Connection[tuple[object, ...]]:
    base, _, query = url.partition("?")
    schema = dict(p.split("=", 1) for p in query.split("&"))["schema"]
    conn = psycopg.connect(base, autocommit=True)
    conn.execute(f"SET search_path TO {schema}")
    return conn


def _as_version_2(url: str) -> None:
    with _connect(url) as conn:
        conn.execute("DROP FUNCTION wfcore_load_since")
        conn.execute("ALTER TABLE invocations DROP COLUMN history_epoch")
        conn.execute("UPDATE wfcore_schema SET version = 2")


def _as_version_1(url: str) -> None:
    _as_version_2(url)
    with _connect(url) as conn:
        for name in LISTING_INDEXES:
            conn.execute(f"DROP INDEX {name}")
        for statement in _VERSION_1_INDEXES:
            conn.execute(statement)
        conn.execute("UPDATE wfcore_schema SET version = 1")


def _state(url: str) -> tuple[int, set[str]]:
    with _connect(url) as conn:
        version = conn.execute("SELECT version FROM wfcore_schema").fetchone()
        rows = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            " AND tablename = 'workflows'"
        ).fetchall()
    assert version is not None
    return int(str(version[0])), {str(r[0]) for r in rows}


@pytest.fixture
def seeded(postgres_url: str) -> Iterator[list[str]]:
    store = PostgresStore(postgres_url)
    try:
        _seed(store, 12)
        for wid in ("wf-003", "wf-007", "wf-010"):
            _finish(store, wid, WorkflowStatus.COMPLETED)
        yield [w.workflow_id for w in store.list_workflows(status=WorkflowStatus.COMPLETED)]
    finally:
        store.close()


def test_a_version_1_schema_lists_read_only_and_is_migrated_to_the_keyset_indexes(
    postgres_url: str, seeded: list[str]
) -> None:
    # Given a schema as version 1 left it
    _as_version_1(postgres_url)
    # When it is paged read-only (as `wfcore list` does)
    reader = PostgresStore(postgres_url, read_only=True)
    try:
        first = list_page(reader, status=WorkflowStatus.COMPLETED, limit=2)
        rest = list_page(reader, status=WorkflowStatus.COMPLETED, limit=5, cursor=first.next_cursor)
        assert reader.count_workflows(WorkflowStatus.COMPLETED) == 3
    finally:
        reader.close()
    # Then it lists correctly and stays as it was
    assert [w.workflow_id for w in first.workflows + rest.workflows] == seeded
    version, names = _state(postgres_url)
    assert version == 1
    assert "workflows_by_status" in names
    # And opened read-write it is migrated: the old indexes replaced by the keyset ones
    PostgresStore(postgres_url).close()
    version, names = _state(postgres_url)
    assert version == SCHEMA_VERSION == 3
    assert set(LISTING_INDEXES) <= names
    assert not names & {"workflows_by_created", "workflows_by_status", "workflows_by_type"}


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({}, "workflows_listed"),
        ({"status": WorkflowStatus.COMPLETED}, "workflows_listed_by_status"),
        ({"workflow_type": "order"}, "workflows_listed_by_type"),
        (
            {"status": WorkflowStatus.COMPLETED, "workflow_type": "order"},
            "workflows_listed_by_status_type",
        ),
    ],
)
def test_a_deep_page_is_one_walk_down_its_index_without_a_sort(
    postgres_url: str, seeded: list[str], filters: dict[str, object], index: str
) -> None:
    # Given the listing's query for a page after a cursor, with time bounds
    sql, params = listing_query(
        PostgresStore._dialect,
        filters.get("status"),  # type: ignore[arg-type]
        filters.get("workflow_type"),  # type: ignore[arg-type]
        0.0,
        1e12,
        (1e10, "wf-5"),
        50,
    )
    # When PostgreSQL plans it (sequential scans off: the table is tiny)
    with _connect(postgres_url) as conn:
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(str(r[0]) for r in conn.execute(f"EXPLAIN {sql}", params).fetchall())
    # Then it walks the index of those filters in the listing order: no sort step
    assert f"using {index} on" in plan
    assert "Sort" not in plan


def test_a_version_2_schema_loads_incrementally_read_only_and_is_migrated_to_epochs(
    postgres_url: str,
) -> None:
    # Given a schema as version 2 left it (no history epochs), holding a suspended root
    store = PostgresStore(postgres_url)
    try:
        _seed(store, 1)
        store.load("wf-000", "wf-000-root")
        store.commit("wf-000", "wf-000-root", Batch(0, [b"op0", b"op1", b"op2"]))
    finally:
        store.close()
    _as_version_2(postgres_url)
    mark = HistoryMark(0, 2, b"op1", ())
    # When it is read past a mark read-only
    reader = PostgresStore(postgres_url, read_only=True)
    try:
        delta = reader.load_since("wf-000", "wf-000-root", mark, claim=False)
        whole = reader.load_since("wf-000", "wf-000-root", EMPTY_MARK, claim=False)
        assert reader.load_since("wf-000", "nope", mark, claim=False) is None
    finally:
        reader.close()
    # Then it reads what follows the mark, at epoch 0, and the schema stays as it was
    assert delta is not None
    assert whole is not None
    assert (delta.epoch, delta.tail, delta.outcome_count) == (0, [b"op1", b"op2"], 0)
    assert whole.tail == [b"op0", b"op1", b"op2"]
    assert _state(postgres_url)[0] == 2
    # And opened read-write it is migrated: epochs (0 in old rows) read in one round trip
    store = PostgresStore(postgres_url)
    try:
        assert _state(postgres_url)[0] == SCHEMA_VERSION
        again = store.load_since("wf-000", "wf-000-root", mark)
    finally:
        store.close()
    assert again is not None
    assert (again.epoch, again.tail) == (0, [b"op1", b"op2"])
    assert again.invocation.attempts == 2
