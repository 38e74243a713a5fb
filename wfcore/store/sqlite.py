"""``SQLiteStore``: one SQLite file shared by the threads and processes of one host."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

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
from wfcore.store import refuse_batch_pushes, refuse_pushes
from wfcore.store._sql_commit import SQLCommit
from wfcore.store._sql_listing import SQLListing
from wfcore.store._sql_marks import SQLMarks
from wfcore.store._sql_reads import SQLReads
from wfcore.store._sql_repair import SQLRepair
from wfcore.store._sql_signals import SQLSignals
from wfcore.store._sqlite_group import GroupCommit, Write
from wfcore.store._sqlite_loads import SQLiteLoads
from wfcore.store._sqlite_sweeps import SQLiteSweeps

__all__ = ["SQLiteStore"]

log = logging.getLogger("wfcore.store.sqlite")

T = TypeVar("T")

# Writes that join one shared transaction before its leader commits, at most: the first one
# waits for all of them.
_SHARED_MAX = 32


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
        self._group = GroupCommit(self._write_batch, self._interrupted)
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

        def create(conn: sqlite3.Connection) -> tuple[WorkflowRecord, bool]:
            wf = workflow
            if wf.parent_workflow_id is not None and not root.cancel_shielded:
                # Born cancelled under a cancelled parent: the cancel's walk may be over.
                sql = "SELECT cancel_requested FROM workflows WHERE workflow_id = ?"
                flag = conn.execute(sql, (wf.parent_workflow_id,)).fetchone()
                if flag is not None and flag[0]:
                    wf = wf.model_copy(update={"cancel_requested": True})
            if not conn.execute(layout.INSERT_WF, layout.wf_values(wf)).rowcount:
                sql = f"{layout.SELECT_WF} WHERE workflow_id = ?"
                found = conn.execute(sql, (wf.workflow_id,)).fetchone()
                return layout.workflow_from_row(found), False
            conn.execute(layout.INSERT_INV, layout.invocation_to_row(wf.workflow_id, root))
            return wf, True

        return self._written(create)

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
        refuse_batch_pushes(self, batch)
        result = self._written(lambda conn: self._apply(conn, workflow_id, invocation_id, batch))
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

    def _written(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(connection)`` in a write transaction, perhaps shared with the writes of other
        threads (see :mod:`~wfcore.store._sqlite_group`); its value once committed."""
        return self._group.run(fn)

    def _write_batch(self, batch: list[Write[Any]], more: Callable[[], list[Write[Any]]]) -> None:
        try:
            with self._transaction() as conn:
                if len(batch) == 1:
                    results = [batch[0].fn(conn)]
                else:
                    results = [_in_savepoint(conn, write, self._error) for write in batch]
                while len(results) < _SHARED_MAX and (joined := more()):
                    results += [_in_savepoint(conn, write, self._error) for write in joined]
        except Exception as e:
            for write in batch:
                if not write.settled:
                    write.fail(e if len(batch) == 1 else _copy(e))
            return
        for write, result in zip(batch, results, strict=True):
            if not write.settled:
                write.succeed(result)

    def _interrupted(self, error: BaseException) -> StoreError:
        return StoreUnavailableError(
            f"SQLite store {self._path!r}: a write was interrupted ({error!r}) before it was "
            "known to be committed; it may or may not be stored"
        )

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


def _in_savepoint(
    conn: sqlite3.Connection, write: Write[Any], error: Callable[[sqlite3.Error], StoreError]
) -> Any:
    """Run one write of a shared transaction; if it fails, undo it alone and fail it."""
    conn.execute("SAVEPOINT write")
    try:
        return write.fn(conn)
    except Exception as e:
        if not conn.in_transaction:
            raise  # SQLite ended the whole transaction: every write in it fails
        conn.execute("ROLLBACK TO write")
        write.fail(error(e) if isinstance(e, sqlite3.Error) else e)
        return None
    finally:
        if conn.in_transaction:
            conn.execute("RELEASE write")


def _copy(error: Exception) -> Exception:
    """A copy of a shared transaction's error for each of its writers (never one object
    raised in several threads at once)."""
    try:
        copied = type(error)(*error.args)
    except Exception:
        copied = StoreUnavailableError(str(error))
    copied.__cause__ = error
    return copied
