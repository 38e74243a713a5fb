"""``SQLiteStore``: one SQLite file shared by the threads and processes of one host."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from wfcore._models import (
    Batch,
    CommitResult,
    InvocationRecord,
    QueuePush,
    WorkflowRecord,
)
from wfcore.errors import (
    StoreError,
    StoreUnavailableError,
    WorkflowNotFoundError,
)
from wfcore.store import _sqlite_layout as layout
from wfcore.store import _sqlite_open as opening
from wfcore.store import refuse_pushes
from wfcore.store._sql_commit import SQLCommit
from wfcore.store._sql_listing import SQLListing
from wfcore.store._sql_marks import SQLMarks
from wfcore.store._sql_reads import SQLReads
from wfcore.store._sql_repair import SQLRepair
from wfcore.store._sql_signals import SQLSignals
from wfcore.store._sqlite_loads import SQLiteLoads
from wfcore.store._sqlite_sweeps import SQLiteSweeps

__all__ = ["SQLiteStore"]

log = logging.getLogger("wfcore.store.sqlite")


class SQLiteStore(
    SQLiteLoads, SQLiteSweeps, SQLCommit, SQLSignals, SQLRepair, SQLListing, SQLReads, SQLMarks
):
    """A store in one SQLite file, safe for many threads and many processes on one host.

    Each thread gets its own connection; every write runs in a ``BEGIN IMMEDIATE``
    transaction, so check-then-write steps are atomic across processes. Opened with
    ``read_only=True`` it only reads (a read-only file or directory is fine) and every write
    raises ``StoreError``.
    """

    _dialect = layout.DIALECT

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        retention: float | None = None,
        timeout: float = 5.0,
        read_only: bool = False,
    ) -> None:
        """Open the store file at ``path``, creating it and its schema if needed.

        Args:
            path: the database file; its directory must exist.
            retention: seconds a finished workflow is kept; None keeps it forever.
            timeout: seconds to wait for another writer's lock before giving up.
            read_only: only read the file, which must exist; it is neither created nor
                upgraded, and writes raise ``StoreError``.

        Raises:
            ConfigurationError: the path or timeout cannot work, or the file holds a newer
                schema than this version of wfcore knows (read-only: or no wfcore store).
            StoreError: the file is read-only for this process and ``read_only`` is False.
            StoreUnavailableError: the file cannot be opened or is not an SQLite database.
        """
        self._path = os.fspath(path)
        opening.check_path(self._path, read_only=read_only)
        self._timeout = opening.check_timeout(timeout, "SQLiteStore(timeout=...)")
        self._retention = retention
        self._read_only = read_only
        self._immutable = False
        self._lock = threading.Lock()
        self._writers = opening.writer_lock(self._path)
        self._local = threading.local()
        self._connections: list[tuple[weakref.ref[threading.Thread], sqlite3.Connection]] = []
        self._inherited: list[sqlite3.Connection] = []
        self._pid = os.getpid()
        self._closed = False
        try:
            self._prepare()
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_url(
        cls, url: str, *, retention: float | None = None, read_only: bool = False
    ) -> SQLiteStore:
        """Build a store from ``sqlite:///relative/path`` or ``sqlite:////absolute/path``.

        The optional query ``?timeout=seconds`` sets how long to wait for a lock.

        Raises:
            ConfigurationError: the URL is malformed.
        """
        path, options = opening.parse_url(url)
        return cls(path, retention=retention, read_only=read_only, **options)

    # -- workflows -----------------------------------------------------------------------

    def create_workflow(
        self, workflow: WorkflowRecord, root: InvocationRecord, *, push: QueuePush | None = None
    ) -> tuple[WorkflowRecord, bool]:
        """Create a workflow and its root invocation unless ``workflow_id`` exists."""
        refuse_pushes(self, push)
        with self._transaction() as conn:
            if workflow.parent_workflow_id is not None and not root.cancel_shielded:
                # Born cancelled under a cancelled parent: the cancel's walk may be over.
                sql = "SELECT cancel_requested FROM workflows WHERE workflow_id = ?"
                flag = conn.execute(sql, (workflow.parent_workflow_id,)).fetchone()
                if flag is not None and flag[0]:
                    workflow = workflow.model_copy(update={"cancel_requested": True})
            if not conn.execute(layout.INSERT_WF, layout.wf_values(workflow)).rowcount:
                sql = f"{layout.SELECT_WF} WHERE workflow_id = ?"
                return layout.workflow_from_row(
                    conn.execute(sql, (workflow.workflow_id,)).fetchone()
                ), False
            conn.execute(layout.INSERT_INV, layout.invocation_to_row(workflow.workflow_id, root))
        return workflow, True

    def purge_expired(self, now: float) -> int:
        """Delete finished workflows whose retention has passed; how many were deleted."""
        return self._purge("expires_at <= ?", (now,))

    def purge_finished(self, workflow_ids: Sequence[str], before: float) -> int:
        """Delete those of ``workflow_ids`` that are finished and were last updated before
        ``before``; how many were deleted."""
        deleted = 0
        finished = ",".join("?" * 3)
        for i in range(0, len(workflow_ids), 500):
            ids = list(workflow_ids[i : i + 500])
            where = (
                f"workflow_id IN ({','.join('?' * len(ids))}) AND status IN ({finished}) "
                "AND updated_at < ?"
            )
            deleted += self._purge(where, (*ids, "COMPLETED", "FAILED", "CANCELLED", before))
        return deleted

    def _purge(self, where: str, params: tuple[object, ...]) -> int:
        doomed = f"workflow_id IN (SELECT workflow_id FROM workflows WHERE {where})"
        with self._transaction() as conn:
            for table in ("entries", "outcomes", "data", "invocations", *layout.SIGNAL_TABLES):
                conn.execute(f"DELETE FROM {table} WHERE {doomed}", params)
            cursor = conn.execute(f"DELETE FROM workflows WHERE {where}", params)
        return cursor.rowcount

    # -- invocations ---------------------------------------------------------------------

    def commit(self, workflow_id: str, invocation_id: str, batch: Batch) -> CommitResult:
        """Apply ``batch`` atomically if the history still holds ``batch.base_seq`` entries.

        Raises:
            WorkflowNotFoundError: the invocation does not exist.
        """
        refuse_pushes(self, *batch.pushes, batch.parent_push, batch.suspend_push)
        with self._transaction() as conn:
            result = self._apply(conn, workflow_id, invocation_id, batch)
        if result is None:
            raise WorkflowNotFoundError(
                f"invocation {invocation_id!r} of workflow {workflow_id!r} is not in the "
                "store; it was never created or its retention has passed"
            )
        return result

    # -- lifecycle -----------------------------------------------------------------------

    def ping(self) -> None:
        """Raise ``StoreUnavailableError`` if the database file cannot be read."""
        self._read("PRAGMA user_version", ())

    def close(self) -> None:
        """Close every thread's connection; later calls raise ``StoreUnavailableError``."""
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for _, conn in connections:
            with suppress(sqlite3.Error):
                conn.close()

    # -- helpers -------------------------------------------------------------------------

    def _head(self, conn: sqlite3.Connection, key: tuple[str, str]) -> Any:
        return conn.execute(layout.HEAD, key).fetchone()  # the write transaction holds the file

    def _count_missing(self, conn: Any, key: tuple[str, str], waiting: Any) -> int:
        try:
            return super()._count_missing(conn, key, waiting)
        except sqlite3.OperationalError as e:  # json_each: the column is not JSON
            raise layout.bad_waiting(key[0], key[1], waiting) from e

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreUnavailableError(f"this SQLiteStore ({self._path}) was closed")
        local = self._local
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is None or local.pid != os.getpid():
            conn = self._open_connection()
            local.conn, local.pid = conn, os.getpid()
        return conn

    def _open_connection(self) -> sqlite3.Connection:
        with self._lock:
            if self._closed:
                raise StoreUnavailableError(f"this SQLiteStore ({self._path}) was closed")
            if self._pid != os.getpid():
                # SQLite connections must not cross fork(); keep the inherited ones
                # referenced, unclosed, so their finalizers never touch the parent's locks.
                self._inherited.extend(c for _, c in self._connections)
                self._connections, self._pid = [], os.getpid()
            alive = []
            for thread, old in self._connections:
                owner = thread()
                if owner is not None and owner.is_alive():
                    alive.append((thread, old))
                else:
                    old.close()  # its thread is gone, so nothing else can be using it
            try:
                conn = opening.connect(
                    self._path, self._timeout, read_only=self._read_only, immutable=self._immutable
                )
            except sqlite3.Error as e:
                raise self._error(e) from e
            try:
                # NORMAL in WAL mode loses no commit when a process crashes, only on power
                # loss or OS crash; process crashes are what the engine must survive.
                if self._read_only:
                    opening.shadow_missing_columns(conn)
                else:
                    conn.execute("PRAGMA synchronous = NORMAL")
            except sqlite3.Error as e:
                conn.close()
                raise self._error(e) from e
            alive.append((weakref.ref(threading.current_thread()), conn))
            self._connections = alive
            return conn

    def _prepare(self) -> None:
        try:
            if self._read_only:
                self._immutable = opening.needs_immutable(self._path, self._timeout)
                opening.check_readable(self._connection(), self._path)
            else:
                opening.ensure_schema(self._connection(), self._path)
        except sqlite3.Error as e:
            raise self._error(e) from e

    @contextmanager
    def _transaction(self, begin: str = layout.WRITE) -> Iterator[sqlite3.Connection]:
        if begin != layout.WRITE:
            with self._transaction_on(begin) as conn:
                yield conn
            return
        # Writers of this process queue on a lock first: SQLite's own busy wait sleeps
        # 1, 2, 5, 10 ... ms between tries, so threads contending for the file lock made a
        # fan-out slower with more threads. Other processes still meet the file lock.
        if not self._writers.acquire(timeout=self._timeout):
            raise StoreUnavailableError(
                f"SQLite store {self._path!r}: another thread of this process held the write "
                f"lock for over {self._timeout:g} s; raise timeout= or shorten transactions"
            )
        try:
            with self._transaction_on(begin) as conn:
                yield conn
        finally:
            self._writers.release()

    @contextmanager
    def _transaction_on(self, begin: str) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        try:
            conn.execute(begin)
        except sqlite3.Error as e:
            raise self._error(e) from e
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as e:
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if isinstance(e, sqlite3.Error):
                raise self._error(e) from e
            raise

    def _read(self, sql: str, params: Sequence[Any]) -> list[Any]:
        conn = self._connection()
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise self._error(e) from e

    def _error(self, error: sqlite3.Error) -> StoreError:
        return opening.store_error(
            self._path,
            error,
            timeout=self._timeout,
            closed=self._closed,
            read_only=self._read_only,
        )
