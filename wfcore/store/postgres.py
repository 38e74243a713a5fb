"""``PostgresStore``: the state store on PostgreSQL (psycopg 3 and a connection pool)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from wfcore._models import (
    Batch,
    CommitResult,
    InvocationRecord,
    QueuePush,
    Snapshot,
    WorkflowRecord,
    WorkflowStatus,
)
from wfcore.errors import ConfigurationError, StoreError, WorkflowNotFoundError
from wfcore.store import MARK_EVERY, refuse_batch_pushes, refuse_pushes
from wfcore.store import _postgres_layout as layout
from wfcore.store import _postgres_open as opening
from wfcore.store._postgres_driver import psycopg, psycopg_pool
from wfcore.store._postgres_sweeps import PostgresSweeps
from wfcore.store._sql_commit import SQLCommit
from wfcore.store._sql_listing import SQLListing
from wfcore.store._sql_marks import SQLMarks
from wfcore.store._sql_reads import SQLReads
from wfcore.store._sql_repair import SQLRepair
from wfcore.store._sql_signals import SQLSignals
from wfcore.store.incremental import HistoryDelta, HistoryMark, pick_outcomes, tail_start

__all__ = ["PostgresStore"]

Cursor = psycopg.Cursor[Any]


class PostgresStore(
    PostgresSweeps, SQLCommit, SQLSignals, SQLRepair, SQLListing, SQLReads, SQLMarks
):
    """A store in a PostgreSQL database, safe for many threads and many processes.

    Each call takes a connection from a pool (psycopg_pool) and runs in one transaction;
    every write first locks the row of the workflow it changes (``FOR NO KEY UPDATE``; several
    workflows in id order), so writers of one workflow on any host queue up, and checks then
    writes are atomic. Opened with ``read_only=True`` its sessions are read-only and every
    write raises ``StoreError``.
    """

    _dialect = layout.DIALECT

    def __init__(
        self,
        url: str,
        *,
        retention: float | None = None,
        read_only: bool = False,
        schema: str | None = None,
    ) -> None:
        """Connect to ``url`` and create or migrate the store's tables if needed.

        Args:
            url: ``postgresql://[user[:password]@]host[:port]/dbname`` (or ``postgres://``),
                optionally with ``?schema=name`` (default ``public``), ``min_size`` and
                ``max_size`` (the pool: 1 and 10), ``timeout`` (seconds to connect or wait
                for a pooled connection: 10); other options go to libpq (``sslmode=...``).
            retention: seconds a finished workflow is kept; None keeps it forever.
            read_only: only read; the schema must exist and is not migrated.
            schema: the schema of the tables; wins over ``?schema=``.

        Raises:
            ConfigurationError: the URL is malformed, or the schema holds a newer wfcore
                schema version than this wfcore knows (read-only: or no store).
            StoreUnavailableError: the server cannot be reached.
        """
        options = opening.parse_url(url)
        if schema is not None:
            options = opening.parse_url(_with_schema(url, schema))
        self._options = options
        self._shown = options.shown
        self._retention = retention
        self._read_only = read_only
        self._closed = False
        self._lock = threading.Lock()
        self._pid = os.getpid()
        try:
            connection = opening.connect(options, read_only=read_only)
        except psycopg.ProgrammingError as e:  # libpq refused the connection string
            raise ConfigurationError(
                f"PostgreSQL store URL {self._shown!r} is malformed: {e}; use {opening.URL_EXAMPLE}"
            ) from None
        except psycopg.Error as e:
            raise self._error(e) from None
        try:
            with connection:
                # A read-only store may read an older schema (no history epochs before 3).
                self._version = opening.ensure_schema(connection, options, read_only=read_only)
            self._pool = opening.make_pool(options, read_only=read_only)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as e:
            raise self._error(e) from None

    @classmethod
    def from_url(
        cls, url: str, *, retention: float | None = None, read_only: bool = False
    ) -> PostgresStore:
        """Build a store from a ``postgresql://`` or ``postgres://`` URL."""
        return cls(url, retention=retention, read_only=read_only)

    def __repr__(self) -> str:
        return f"PostgresStore({self._shown!r}, schema={self._options.schema!r})"

    # -- workflows -----------------------------------------------------------------------

    def create_workflow(
        self, workflow: WorkflowRecord, root: InvocationRecord, *, push: QueuePush | None = None
    ) -> tuple[WorkflowRecord, bool]:
        """Create a workflow and its root invocation unless ``workflow_id`` exists."""
        refuse_pushes(self, push)
        wid = workflow.workflow_id
        if workflow.parent_workflow_id is None or root.cancel_shielded:
            # One statement: nothing to read first.
            values = (*layout.wf_values(workflow), *layout.invocation_to_row(wid, root))
            if self._read(layout.CREATE, values)[0][0]:
                return workflow, True
            existing = self.get_workflow(wid)
            if existing is not None:
                return existing, False
        with self._transaction() as cur:
            if workflow.parent_workflow_id is not None and not root.cancel_shielded:
                # Born cancelled under a cancelled parent: the cancel's walk may be over.
                # FOR SHARE: a cancel being written is waited for, never missed.
                sql = "SELECT cancel_requested FROM workflows WHERE workflow_id = %s FOR SHARE"
                flag = cur.execute(sql, (workflow.parent_workflow_id,)).fetchone()
                if flag is not None and flag[0]:
                    workflow = workflow.model_copy(update={"cancel_requested": True})
            if cur.execute(layout.INSERT_WF, layout.wf_values(workflow)).fetchone() is None:
                sql = f"{layout.SELECT_WF} WHERE workflow_id = %s"
                row = cur.execute(sql, (wid,)).fetchone()
                return layout.workflow_from_row(row), False  # type: ignore[arg-type]
            cur.execute(layout.INSERT_INV, layout.invocation_to_row(wid, root))
        return workflow, True

    # -- invocations ---------------------------------------------------------------------

    def load(self, workflow_id: str, invocation_id: str, *, claim: bool = True) -> Snapshot | None:
        """Workflow, invocation, history and child outcomes in one round trip.

        With ``claim`` a non-finished invocation becomes RUNNING and its attempt count grows.
        """
        rows = self._read(layout.LOAD_CALL, (workflow_id, invocation_id, claim, time.time()))
        if not rows:
            return None
        row = rows[0]
        n_loaded = layout.N_LOADED
        return Snapshot(
            layout.workflow_from_row(row[layout.N_INV : n_loaded]),
            layout.invocation_from_row(row),
            row[n_loaded],
            dict(zip(row[n_loaded + 1], row[n_loaded + 2], strict=True)),
        )

    def load_since(
        self, workflow_id: str, invocation_id: str, mark: HistoryMark, *, claim: bool = True
    ) -> HistoryDelta | None:
        """``load``, reading only past ``mark`` (see :mod:`wfcore.store.incremental`), in
        one round trip."""
        if self._version < 3:  # read-only on an older schema: no epochs, read it all
            snap = self.load(workflow_id, invocation_id, claim=claim)
            if snap is None:
                return None
            tail = snap.entries[tail_start(mark) :]
            picked = pick_outcomes(snap.outcomes, mark)
            return HistoryDelta(snap.workflow, snap.invocation, 0, tail, picked, len(snap.outcomes))
        params = (workflow_id, invocation_id, claim, time.time(), tail_start(mark))
        rows = self._read(layout.LOAD_SINCE_CALL, (*params, list(mark.open), not mark.length))
        if not rows:
            return None
        row = rows[0]
        n = layout.N_LOADED
        return HistoryDelta(
            layout.workflow_from_row(row[layout.N_INV : n]),
            layout.invocation_from_row(row),
            row[n + 3],
            row[n],
            dict(zip(row[n + 1], row[n + 2], strict=True)),
            row[n + 4],
        )

    def commit(self, workflow_id: str, invocation_id: str, batch: Batch) -> CommitResult:
        """Apply ``batch`` atomically if the history still holds ``batch.base_seq`` entries.

        Raises:
            WorkflowNotFoundError: the invocation does not exist.
        """
        refuse_batch_pushes(self, batch)
        plain = not (
            batch.data or batch.children or batch.signal or batch.parent or batch.continue_with
        )
        if plain and batch.suspend is None:
            return self._append(workflow_id, invocation_id, batch)
        with self._transaction() as cur:
            result = self._apply(cur, workflow_id, invocation_id, batch)
        if result is None:
            raise _not_found(workflow_id, invocation_id)
        return result

    def _append(self, workflow_id: str, invocation_id: str, batch: Batch) -> CommitResult:
        """A commit of entries (and a finish without a parent to tell) in one round trip."""
        finish = batch.finish
        status = None if finish is None else WorkflowStatus(finish.status).value
        outcome = None if finish is None else finish.outcome
        params = (workflow_id, invocation_id, batch.base_seq, list(batch.entries), time.time())
        extra = (MARK_EVERY, status, outcome, self._retention)
        found, cancel, ok, winners = self._read(layout.APPEND_CALL, (*params, *extra))[0]
        if not found:
            raise _not_found(workflow_id, invocation_id)
        return CommitResult(ok=ok, cancel_requested=cancel, winners=winners or [])

    # -- lifecycle -----------------------------------------------------------------------

    def ping(self) -> None:
        """Raise ``StoreUnavailableError`` if the database cannot be reached."""
        self._read("SELECT 1", ())

    def close(self) -> None:
        """Close the pool; later calls raise ``StoreUnavailableError``."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pool = getattr(self, "_pool", None)
        if pool is not None and self._pid == os.getpid():
            with suppress(psycopg.Error):
                pool.close()

    # -- helpers -------------------------------------------------------------------------

    def _head(self, cur: Cursor, key: tuple[str, str]) -> Any:
        # Lock first, then read: a statement that waited for a lock reads, in READ COMMITTED,
        # only the locked row anew; the next statement sees everything committed before it.
        if cur.execute(layout.LOCK_WF, (key[0],)).fetchone() is None:
            return None
        return cur.execute(layout.HEAD, key).fetchone()

    def _pool_here(self) -> psycopg_pool.ConnectionPool[Any]:
        if self._closed:
            raise opening.store_error(
                self._shown, RuntimeError(), closed=True, read_only=False, timeout=0
            )
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    # Connections must not cross fork(): the child opens a pool of its own
                    # and leaves the parent's alone (closing it would close the parent's).
                    self._pool = opening.make_pool(self._options, read_only=self._read_only)
                    self._pid = os.getpid()
        return self._pool

    @contextmanager
    def _transaction(self) -> Iterator[Cursor]:
        """A cursor in a transaction (READ COMMITTED)."""
        try:
            with self._pool_here().connection() as conn, conn.transaction():
                yield conn.cursor()
        except (psycopg.Error, psycopg_pool.PoolTimeout) as e:
            raise self._error(e) from e

    def _read(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """The rows of one statement run in a transaction of its own (autocommit): a read,
        or a write that needs nothing else (a server-side function, a creation)."""
        try:
            with self._pool_here().connection() as conn:
                rows: list[Any] = conn.execute(sql, params).fetchall()
                return rows
        except (psycopg.Error, psycopg_pool.PoolTimeout) as e:
            raise self._error(e) from e

    def _error(self, error: Exception) -> StoreError:
        return opening.store_error(
            self._shown,
            error,
            closed=self._closed,
            read_only=self._read_only,
            timeout=self._options.timeout if hasattr(self, "_options") else 0,
        )


def _not_found(workflow_id: str, invocation_id: str) -> WorkflowNotFoundError:
    return WorkflowNotFoundError(
        f"invocation {invocation_id!r} of workflow {workflow_id!r} is not in the store; it "
        "was never created or its retention has passed"
    )


def _with_schema(url: str, schema: str) -> str:
    base, _, query = url.partition("?")
    kept = "&".join(p for p in query.split("&") if p and not p.startswith("schema="))
    return f"{base}?schema={schema}" + (f"&{kept}" if kept else "")
