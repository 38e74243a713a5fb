"""PostgresStore specifics: URLs and options, the missing extra, unreachable servers, the
versioned schema, read-only stores, damaged rows, fork safety. The behaviour every store
shares is in the conformance suites (parametrised over stores in conftest.py)."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from tests.store.records import workflow
from tests.support.postgres_server import drop_schema
from wfcore._models import Batch
from wfcore.errors import ConfigurationError, DecodeError, StoreError, StoreUnavailableError
from wfcore.store import open_store
from wfcore.store._postgres_layout import SCHEMA_VERSION
from wfcore.store.postgres import PostgresStore

pytestmark = pytest.mark.postgres


def _sql(url: str, statement: str) -> None:
    """Run ``statement`` in the store's schema, outside wfcore."""
    base, _, query = url.partition("?")
    schema = dict(p.split("=", 1) for p in query.split("&"))["schema"]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {schema}")
        conn.execute(statement)


@contextmanager
def _role(url: str, *grants: str) -> Iterator[str]:
    """A new login role on the database of ``url`` (each of ``grants`` run with ``{role}``
    filled in); yields ``url`` logging in as it; the role is dropped afterwards."""
    role = f"wfcore_role_{uuid.uuid4().hex[:8]}"
    base = url.split("?", 1)[0]
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        for grant in grants:
            admin.execute(grant.format(role=role))
    try:
        yield url.replace("postgresql://postgres@", f"postgresql://{role}@", 1)
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")


@pytest.fixture
def store(postgres_url: str) -> Iterator[PostgresStore]:
    opened = PostgresStore(postgres_url)
    try:
        yield opened
    finally:
        opened.close()


# -- URLs, the extra, the server ----------------------------------------------------------


def test_open_store_builds_a_postgres_store_from_either_scheme(postgres_url: str) -> None:
    for url in (postgres_url, postgres_url.replace("postgresql://", "postgres://", 1)):
        store = open_store(url)
        try:
            assert isinstance(store, PostgresStore)
            store.ping()
        finally:
            store.close()


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("schema=Bad-Name", "schema"),
        ("max_size=0", "max_size"),
        ("min_size=x", "min_size"),
        ("min_size=5&max_size=2", "min_size"),
        ("timeout=-1", "timeout"),
        ("no_such_libpq_option=1", "malformed"),
    ],
)
def test_bad_options_are_configuration_errors_that_hide_the_password(
    query: str, named: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        open_store(f"postgresql://postgres:s3cret@127.0.0.1:5432/postgres?{query}")
    message = str(caught.value)
    assert named in message
    assert "s3cret" not in message
    assert "postgres:***@" in message


def test_an_unreachable_server_is_store_unavailable_with_the_password_hidden() -> None:
    t0 = time.monotonic()
    with pytest.raises(StoreUnavailableError) as caught:
        open_store("postgresql://postgres:s3cret@127.0.0.1:1/postgres?timeout=2")
    assert time.monotonic() - t0 < 10
    assert "s3cret" not in str(caught.value)
    assert "127.0.0.1" in str(caught.value)


def test_a_missing_database_is_store_unavailable_naming_it(postgres_database: str) -> None:
    base = postgres_database.rsplit("/", 1)[0]
    with pytest.raises(StoreUnavailableError, match="no_such_db_"):
        open_store(f"{base}/no_such_db_{uuid.uuid4().hex[:8]}")


def test_without_psycopg_the_error_names_the_extra() -> None:
    # Given a Python where psycopg cannot be imported (a None in sys.modules blocks it)
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from wfcore.errors import ConfigurationError\n"
        "from wfcore.store import open_store\n"
        "try:\n"
        "    open_store('postgresql://127.0.0.1/x')\n"
        "except ConfigurationError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # Then opening a PostgreSQL store says which extra to install
    assert "pip install 'wfcore[postgres]'" in out.stdout, out.stderr


def test_a_closed_store_is_unavailable(store: PostgresStore) -> None:
    store.close()
    with pytest.raises(StoreUnavailableError, match="closed"):
        store.get_workflow("wf-1")


# -- schema -------------------------------------------------------------------------------


def test_racing_openers_create_the_schema_once(postgres_database: str) -> None:
    schema = f"race_{uuid.uuid4().hex[:8]}"
    url = f"{postgres_database}?schema={schema}"
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            PostgresStore(url).close()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
    finally:
        drop_schema(postgres_database, schema)


def test_a_newer_schema_version_is_refused(store: PostgresStore, postgres_url: str) -> None:
    _sql(postgres_url, "UPDATE wfcore_schema SET version = 99")
    with pytest.raises(ConfigurationError, match=f"version 99, newer than the {SCHEMA_VERSION}"):
        PostgresStore(postgres_url)


def test_a_foreign_workflows_table_is_refused(postgres_database: str) -> None:
    schema = f"foreign_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.workflows (id int)")
    try:
        with pytest.raises(ConfigurationError, match="did not create"):
            PostgresStore(f"{postgres_database}?schema={schema}")
    finally:
        drop_schema(postgres_database, schema)


def test_the_schema_keyword_wins_over_the_url(postgres_database: str) -> None:
    schema = f"kw_{uuid.uuid4().hex[:8]}"
    try:
        opened = PostgresStore(f"{postgres_database}?schema=ignored_one", schema=schema)
        opened.close()
        assert schema in repr(opened)
    finally:
        drop_schema(postgres_database, schema)
        drop_schema(postgres_database, "ignored_one")


# -- read-only ----------------------------------------------------------------------------


def test_read_only_reads_and_refuses_writes(store: PostgresStore, postgres_url: str) -> None:
    record, root = workflow("wf-1")
    store.create_workflow(record, root)
    reader = open_store(postgres_url, read_only=True)
    try:
        found = reader.get_workflow("wf-1")
        assert found is not None
        assert found.workflow_id == "wf-1"
        with pytest.raises(StoreError, match="read-only"):
            reader.commit("wf-1", root.invocation_id, Batch(0, [b"x"]))
        with pytest.raises(StoreError, match="read-only"):
            reader.create_workflow(*workflow("wf-2"))
    finally:
        reader.close()
    assert store.get_workflow("wf-2") is None


def test_read_only_refuses_a_schema_without_a_store(postgres_database: str) -> None:
    with pytest.raises(ConfigurationError, match="holds no wfcore store"):
        open_store(f"{postgres_database}?schema=nothing_here", read_only=True)


# -- damaged rows -------------------------------------------------------------------------


def test_a_damaged_workflow_row_is_a_decode_error(store: PostgresStore, postgres_url: str) -> None:
    store.create_workflow(*workflow("wf-1"))
    _sql(postgres_url, "UPDATE workflows SET status = 'BOGUS'")
    with pytest.raises(DecodeError, match=r"workflow 'wf-1' \(table workflows\).*status"):
        store.get_workflow("wf-1")


def test_a_damaged_invocation_row_is_a_decode_error_and_stored_rows_are_kept(
    store: PostgresStore, postgres_url: str
) -> None:
    record, root = workflow("wf-1")
    store.create_workflow(record, root)
    store.commit("wf-1", root.invocation_id, Batch(0, [b"e0"]))
    _sql(postgres_url, "UPDATE invocations SET status = 'BOGUS'")
    with pytest.raises(DecodeError, match=r"table invocations.*status"):
        store.get_invocation("wf-1", root.invocation_id)
    with pytest.raises(DecodeError, match=r"table invocations.*status"):
        store.load("wf-1", root.invocation_id, claim=False)
    # Reading it changed nothing: repaired, it loads with its entry
    _sql(postgres_url, "UPDATE invocations SET status = 'PENDING'")
    snapshot = store.load("wf-1", root.invocation_id, claim=False)
    assert snapshot is not None
    assert snapshot.entries == [b"e0"]


def test_a_damaged_row_does_not_stop_a_recovery_sweep(
    store: PostgresStore, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    for wid in ("wf-1", "wf-2"):
        store.create_workflow(*workflow(wid, created_at=time.time() - 600))
    # (a constraint dropped and broken outside wfcore)
    _sql(postgres_url, "ALTER TABLE invocations ALTER COLUMN attempts DROP NOT NULL")
    _sql(postgres_url, "UPDATE invocations SET attempts = NULL WHERE workflow_id = 'wf-1'")
    claimed = store.recover_candidates(older_than=time.time() - 60, now=time.time())
    assert [inv.workflow_id for inv in claimed] == ["wf-2"]
    assert "damaged row" in caplog.text


# -- processes ----------------------------------------------------------------------------


def _read_in_child(store: PostgresStore, out: multiprocessing.Queue[object]) -> None:
    found = store.get_workflow("wf-1")
    out.put(None if found is None else found.workflow_id)


def test_a_forked_child_uses_connections_of_its_own(store: PostgresStore) -> None:
    store.create_workflow(*workflow("wf-1"))
    context = multiprocessing.get_context("fork")
    out: multiprocessing.Queue[object] = context.Queue()
    child = context.Process(target=_read_in_child, args=(store, out))
    child.start()
    child.join(30)
    assert out.get(timeout=5) == "wf-1"
    # and the parent's pool still works
    assert store.get_workflow("wf-1") is not None


def test_a_role_with_select_and_execute_only_reads_read_only(
    store: PostgresStore, postgres_url: str
) -> None:
    # Given a store and a role that may only read its tables and call its functions
    record, root = workflow("wf-1")
    store.create_workflow(record, root)
    store.commit("wf-1", root.invocation_id, Batch(0, [b"e0"]))
    schema = postgres_url.rsplit("schema=", 1)[1]
    grants = (
        f"GRANT USAGE ON SCHEMA {schema} TO {{role}}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {{role}}",
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {schema} TO {{role}}",
    )
    with _role(postgres_url, *grants) as reader_url:
        reader = open_store(reader_url, read_only=True)
        try:
            # Then it reads workflows and histories, and a write is refused, typed
            snapshot = reader.load("wf-1", root.invocation_id, claim=False)
            assert snapshot is not None
            assert snapshot.entries == [b"e0"]
            with pytest.raises(StoreError, match="read-only"):
                reader.request_cancel("wf-1")
        finally:
            reader.close()


def test_a_connection_the_server_dropped_is_unavailable_once_then_replaced(
    store: PostgresStore, postgres_url: str
) -> None:
    # Given a store whose pooled connection the server terminates
    store.create_workflow(*workflow("wf-1"))
    [(pid,)] = store._read("SELECT pg_backend_pid()", ())  # its one pooled connection
    with psycopg.connect(postgres_url.split("?", 1)[0], autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    # Then a call on it fails typed (the caller's retry policy decides), and the pool opens
    # a new connection for the next one
    failures = 0
    for _ in range(3):
        try:
            assert store.get_workflow("wf-1") is not None
        except StoreUnavailableError:
            failures += 1
    assert failures <= 1
    assert store.get_workflow("wf-1") is not None


def test_the_owner_of_an_empty_schema_creates_the_store_in_it(postgres_database: str) -> None:
    # Given a role without CREATE on the database that owns an empty schema
    schema = f"owned_{uuid.uuid4().hex[:8]}"
    try:
        with _role(postgres_database, f"CREATE SCHEMA {schema} AUTHORIZATION {{role}}") as url:
            # When it opens a store there, Then the tables are created and work
            store = open_store(f"{url}?schema={schema}")
            try:
                store.create_workflow(*workflow("wf-1"))
                assert store.get_workflow("wf-1") is not None
            finally:
                store.close()
    finally:
        drop_schema(postgres_database, schema)
