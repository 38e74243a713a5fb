"""How ``SQLiteStore`` opens its file: URL, timeout, connections (read-write or read-only),
the schema check and upgrade, and ``sqlite3`` errors as wfcore's."""

from __future__ import annotations

import math
import os
import sqlite3
import threading
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from wfcore.errors import ConfigurationError, StoreError, StoreUnavailableError
from wfcore.store import _sqlite_layout as layout
from wfcore.store import mask_url

__all__ = [
    "URL_EXAMPLE",
    "check_path",
    "check_readable",
    "check_timeout",
    "connect",
    "ensure_schema",
    "needs_immutable",
    "parse_url",
    "store_error",
    "writer_lock",
]

URL_EXAMPLE = "'sqlite:///relative/path.db' or 'sqlite:////absolute/path.db?timeout=5'"


def check_timeout(value: Any, source: str) -> float:
    """``value`` as seconds >= 0, or ``ConfigurationError`` naming ``source``."""
    try:
        timeout = float(value)
    except (TypeError, ValueError):
        timeout = math.nan
    if not math.isfinite(timeout) or timeout < 0:
        raise ConfigurationError(
            f"SQLite store timeout {value!r} in {source} is not a number of seconds >= 0; "
            f"use e.g. {URL_EXAMPLE}"
        )
    return timeout


def parse_url(url: str) -> tuple[str, dict[str, Any]]:
    """The file path and the options (``timeout``) of an ``sqlite:///`` URL."""
    try:
        parts = urlsplit(url)
    except ValueError as e:
        raise ConfigurationError(
            f"{mask_url(url)!r} is not an SQLite store URL ({e}); use {URL_EXAMPLE}"
        ) from None
    if parts.scheme.lower() != "sqlite" or parts.netloc or parts.fragment:
        raise ConfigurationError(f"{mask_url(url)!r} is not an SQLite store URL; use {URL_EXAMPLE}")
    path = unquote(parts.path[1:])
    if not path or path.endswith("/"):
        raise ConfigurationError(f"SQLite store URL {url!r} names no file; use {URL_EXAMPLE}")
    options: dict[str, Any] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name != "timeout":
            raise ConfigurationError(
                f"unknown option {name!r} in SQLite store URL {url!r}; "
                f"only 'timeout' is supported, e.g. {URL_EXAMPLE}"
            )
        options["timeout"] = check_timeout(value, repr(url))
    return path, options


def check_path(path: str, *, read_only: bool) -> None:
    """Refuse paths a shared store file cannot live at (or, read-only, that do not exist)."""
    if path in ("", ":memory:") or path.startswith("file:"):
        raise ConfigurationError(
            f"SQLite store path {path!r} is not a file path; threads and processes "
            "must share one file (use 'memory://' for an in-process store)"
        )
    if Path(path).is_dir():
        raise ConfigurationError(f"SQLite store path {path!r} is a directory")
    if read_only:
        if not Path(path).is_file():
            raise ConfigurationError(
                f"there is no SQLite store file {path!r} to open read-only; check the path "
                "(a relative one is relative to the working directory)"
            )
        return
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise ConfigurationError(
            f"cannot create SQLite store {path!r}: directory {str(parent)!r} "
            "does not exist; create it first"
        )


def connect(
    path: str, timeout: float, *, read_only: bool, immutable: bool = False
) -> sqlite3.Connection:
    """A connection in autocommit mode (wfcore begins its own transactions)."""
    if not read_only:
        return sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    uri = f"file:{quote(str(Path(path).resolve()))}?mode=ro" + ("&immutable=1" if immutable else "")
    return sqlite3.connect(
        uri, timeout=timeout, isolation_level=None, check_same_thread=False, uri=True
    )


def shadow_missing_columns(conn: sqlite3.Connection) -> None:
    """Let a read-only connection read a file of an older schema version as the current one.

    A read-only file cannot be upgraded, so each table that lacks columns added since (see
    ``MIGRATIONS``) is shadowed by a TEMP view (temp objects take precedence over the
    file's) adding them as NULL, which is what an upgrade would have stored in old rows.
    """
    missing: dict[str, list[str]] = {}
    for table, column, _ in layout.MIGRATIONS:
        present = {row[1] for row in conn.execute(f"PRAGMA main.table_info({table})")}
        if present and column not in present:
            missing.setdefault(table, []).append(column)
    for table, absent in missing.items():
        added = ", ".join(f"NULL AS {column}" for column in absent)
        conn.execute(f"CREATE TEMP VIEW {table} AS SELECT *, {added} FROM main.{table}")


def needs_immutable(path: str, timeout: float) -> bool:
    """Whether a read-only connection to ``path`` must say ``immutable=1`` to read at all.

    A WAL file whose -shm file is absent, in a directory this process cannot write, cannot
    be read otherwise (SQLite would have to create the -shm file); no writer can be using it
    then (writers need those files), so reading it as immutable is safe.
    """
    probe = connect(path, timeout, read_only=True)
    try:
        probe.execute("PRAGMA user_version").fetchone()
    except sqlite3.Error as e:
        if getattr(e, "sqlite_errorname", "") != "SQLITE_READONLY_DIRECTORY":
            raise
        return True
    finally:
        probe.close()
    return False


def schema_version(conn: sqlite3.Connection, path: str) -> int:
    """The file's schema version; ``ConfigurationError`` if newer than this code knows."""
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > layout.SCHEMA_VERSION:
        raise ConfigurationError(
            f"SQLite store {path!r} has schema version {version}, newer than the "
            f"{layout.SCHEMA_VERSION} this wfcore understands; upgrade wfcore or use "
            "another file"
        )
    return version


def check_readable(conn: sqlite3.Connection, path: str) -> None:
    """Refuse, before reading it, a file this code cannot read as a store."""
    if schema_version(conn, path) == 0:
        raise ConfigurationError(
            f"SQLite file {path!r} holds no wfcore store (it has no wfcore schema); check the path"
        )


def ensure_schema(conn: sqlite3.Connection, path: str) -> None:
    """Turn on WAL journaling and build or upgrade the schema to the current version."""
    if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
        raise StoreUnavailableError(
            f"SQLite store {path!r} cannot use WAL journaling (is it on a "
            "network file system?); put it on a local disk"
        )
    if schema_version(conn, path) >= layout.SCHEMA_VERSION:
        return
    conn.execute(layout.WRITE)
    try:
        if schema_version(conn, path) < layout.SCHEMA_VERSION:
            # Not executescript(): it would commit first, and the schema must be built
            # under the write lock so that racing openers build it once.
            for statement in filter(str.strip, layout.SCHEMA.split(";")):
                conn.execute(statement)
            for index in layout.DROPPED_INDEXES:
                conn.execute(f"DROP INDEX IF EXISTS {index}")
            for table, column, definition in layout.MIGRATIONS:
                columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
                if column not in columns:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
            conn.execute(f"PRAGMA user_version = {layout.SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise


def store_error(
    path: str, error: sqlite3.Error, *, timeout: float, closed: bool, read_only: bool
) -> StoreError:
    """An ``sqlite3`` error as wfcore's, with what to do about it."""
    text = str(error)
    if closed or "closed" in text:
        return StoreUnavailableError(f"this SQLiteStore ({path}) was closed")
    if getattr(error, "sqlite_errorname", "").startswith("SQLITE_READONLY") or "readonly" in text:
        if read_only:
            return StoreError(
                f"SQLite store {path!r} was opened read-only, so it cannot be written ({text}); "
                "open it without read-only mode to change it"
            )
        return StoreError(
            f"SQLite store {path!r} is read-only for this process ({text}): writing needs "
            "write access to the file and to its directory (SQLite keeps its -wal and -shm "
            "files there); fix the permissions, or open it read-only to inspect it"
        )
    if "locked" in text or "busy" in text:
        return StoreUnavailableError(
            f"SQLite store {path!r} stayed locked for {timeout:g} s by another "
            "writer; raise '?timeout=' in the URL or reduce contention"
        )
    if "not a database" in text:
        return StoreUnavailableError(
            f"{path!r} is not an SQLite database ({text}); point the store URL at a "
            "wfcore store file or at a new path"
        )
    return StoreUnavailableError(f"SQLite store {path!r} failed: {text}")


_WRITERS: dict[tuple[int, str], threading.RLock] = {}
_WRITERS_LOCK = threading.Lock()


def writer_lock(path: str) -> threading.RLock:
    """The lock this process's writers of the file at ``path`` take before ``BEGIN
    IMMEDIATE`` (one per file and process, shared by every store opened on it; a forked
    child gets its own)."""
    key = (os.getpid(), os.path.realpath(path))
    with _WRITERS_LOCK:
        lock = _WRITERS.get(key)
        if lock is None:
            lock = _WRITERS[key] = threading.RLock()
        return lock
