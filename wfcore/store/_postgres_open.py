"""How ``PostgresStore`` connects: its URL and options, the schema check and migrations,
and psycopg errors as wfcore's. The only wfcore modules importing psycopg are the
``_postgres*`` ones, and only when a PostgreSQL store is opened (see ``_postgres_driver``)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from wfcore.errors import ConfigurationError, StoreError, StoreUnavailableError
from wfcore.store import _postgres_layout as layout
from wfcore.store import mask_url
from wfcore.store._postgres_driver import psycopg, psycopg_pool, sql

__all__ = ["Options", "connect", "ensure_schema", "parse_url", "store_error"]

URL_EXAMPLE = "'postgresql://user:password@host:5432/dbname?schema=wfcore&max_size=10'"
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True, slots=True)
class Options:
    """wfcore's own options of a PostgreSQL URL (the rest goes to libpq)."""

    conninfo: str
    shown: str  # the URL with its password masked, for messages
    schema: str = "public"
    min_size: int = 1
    max_size: int = 10
    timeout: float = 10.0


def _number(name: str, value: str, url: str, *, whole: bool) -> float:
    try:
        number = int(value) if whole else float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < (1 if whole else 0) or (not whole and number == 0):
        kind = "a whole number >= 1" if whole else "a number of seconds > 0"
        raise ConfigurationError(
            f"option {name}={value!r} in PostgreSQL store URL {mask_url(url)!r} is not {kind}; "
            f"use e.g. {URL_EXAMPLE}"
        )
    return number


def parse_url(url: str) -> Options:
    """The connection string and wfcore's options (``schema``, ``min_size``, ``max_size``,
    ``timeout``) of a ``postgresql://`` or ``postgres://`` URL; other options go to libpq."""
    shown = mask_url(url)
    try:
        parts = urlsplit(url)
    except ValueError as e:
        raise ConfigurationError(
            f"{shown!r} is not a PostgreSQL store URL ({e}); use {URL_EXAMPLE}"
        ) from None
    if parts.scheme.lower() not in ("postgresql", "postgres") or parts.fragment:
        raise ConfigurationError(f"{shown!r} is not a PostgreSQL store URL; use {URL_EXAMPLE}")
    ours: dict[str, Any] = {}
    rest = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "schema":
            if not _IDENTIFIER.fullmatch(value):
                raise ConfigurationError(
                    f"schema {value!r} in PostgreSQL store URL {shown!r} is not a plain "
                    "lower-case SQL name (letters, digits, '_', at most 63); use e.g. "
                    "?schema=wfcore"
                )
            ours["schema"] = value
        elif name in ("min_size", "max_size"):
            ours[name] = int(_number(name, value, url, whole=True))
        elif name == "timeout":
            ours[name] = _number(name, value, url, whole=False)
        else:
            rest.append((name, value))
    if ours.get("min_size", 1) > ours.get("max_size", max(10, ours.get("min_size", 1))):
        raise ConfigurationError(
            f"min_size is above max_size in PostgreSQL store URL {shown!r}; "
            "min_size connections are opened at start, at most max_size are kept"
        )
    if "max_size" not in ours and ours.get("min_size", 1) > 10:
        ours["max_size"] = ours["min_size"]
    if not any(name == "application_name" for name, _ in rest):
        rest.append(("application_name", "wfcore"))  # how pg_stat_activity shows its sessions
    conninfo = urlunsplit(
        ("postgresql", parts.netloc, parts.path, urlencode(rest, quote_via=quote), "")
    )
    return Options(conninfo, shown, **ours)


def connect(options: Options, *, read_only: bool) -> psycopg.Connection[Any]:
    """One autocommit connection (wfcore begins its own transactions)."""
    connection = psycopg.connect(
        options.conninfo, autocommit=True, connect_timeout=max(1, math.ceil(options.timeout))
    )
    configure(connection, options.schema, read_only=read_only)
    return connection


def configure(connection: psycopg.Connection[Any], schema: str, *, read_only: bool) -> None:
    """Point a new connection at the store's schema (and make it read-only)."""
    connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    if read_only:
        connection.execute("SET default_transaction_read_only = on")


def make_pool(options: Options, *, read_only: bool) -> psycopg_pool.ConnectionPool[Any]:
    """The pool every call takes its connection from, opened and checked."""
    pool: psycopg_pool.ConnectionPool[Any] = psycopg_pool.ConnectionPool(
        options.conninfo,
        min_size=options.min_size,
        max_size=options.max_size,
        kwargs={"autocommit": True, "connect_timeout": max(1, math.ceil(options.timeout))},
        configure=lambda c: configure(c, options.schema, read_only=read_only),
        timeout=options.timeout,
        open=False,
        name="wfcore",
    )
    try:
        pool.open(wait=True, timeout=options.timeout)
    except BaseException:
        pool.close()  # its workers would go on trying to connect
        raise
    return pool


def _version(connection: psycopg.Connection[Any], options: Options) -> int:
    found = connection.execute(
        "SELECT to_regclass('wfcore_schema') IS NOT NULL, to_regclass('workflows') IS NOT NULL"
    ).fetchone()
    assert found is not None
    if not found[0]:
        if found[1]:
            raise ConfigurationError(
                f"schema {options.schema!r} of {options.shown!r} has a 'workflows' table that "
                "wfcore did not create; use another schema (?schema=wfcore) or database"
            )
        return 0
    row = connection.execute("SELECT version FROM wfcore_schema").fetchone()
    version = 0 if row is None else int(row[0])
    if version > layout.SCHEMA_VERSION:
        raise ConfigurationError(
            f"PostgreSQL store {options.shown!r} (schema {options.schema!r}) has wfcore schema "
            f"version {version}, newer than the {layout.SCHEMA_VERSION} this wfcore "
            "understands; upgrade wfcore or use another schema or database"
        )
    return version


def ensure_schema(connection: psycopg.Connection[Any], options: Options, *, read_only: bool) -> int:
    """Create or migrate the store's tables to ``SCHEMA_VERSION`` (read-only: only check);
    the schema's version then."""
    if read_only:
        version = _version(connection, options)
        if version == 0:
            raise ConfigurationError(
                f"schema {options.schema!r} of {options.shown!r} holds no wfcore store; "
                "check the URL and its ?schema= option"
            )
        return version
    if _version(connection, options) == layout.SCHEMA_VERSION:
        return layout.SCHEMA_VERSION
    with connection.transaction():
        name = sql.Identifier(options.schema)
        # Racing openers: one migrates, the others wait here and then find it done.
        connection.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"wfcore:{options.schema}",)
        )
        exists = "SELECT 1 FROM pg_namespace WHERE nspname = %s"
        if connection.execute(exists, (options.schema,)).fetchone() is None:
            # (Not IF NOT EXISTS alone: that needs CREATE on the database even when the
            # schema exists, which the owner of an existing schema may not have.)
            connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(name))
        version = _version(connection, options)
        if version == 0:
            connection.execute("CREATE TABLE wfcore_schema (version integer NOT NULL)")
            connection.execute("INSERT INTO wfcore_schema (version) VALUES (0)")
        for step in range(version + 1, layout.SCHEMA_VERSION + 1):
            for statement in layout.MIGRATIONS[step]:
                connection.execute(statement)
            connection.execute("UPDATE wfcore_schema SET version = %s", (step,))
    return layout.SCHEMA_VERSION


def store_error(
    shown: str, error: Exception, *, closed: bool, read_only: bool, timeout: float
) -> StoreError:
    """A psycopg (or pool) error as wfcore's, with what to do about it."""
    text = str(error).strip()
    if closed:
        return StoreUnavailableError(f"this PostgresStore ({shown}) was closed")
    if isinstance(error, psycopg.errors.ReadOnlySqlTransaction):
        if read_only:
            return StoreError(
                f"PostgreSQL store {shown!r} was opened read-only, so it cannot be written "
                f"({text}); open it without read-only mode to change it"
            )
        return StoreError(f"PostgreSQL store {shown!r} refused a write: {text}")
    if isinstance(error, psycopg_pool.PoolTimeout):
        return StoreUnavailableError(
            f"PostgreSQL store {shown!r}: no connection within {timeout:g} s ({text}); check "
            "that the server is up and reachable, or raise ?timeout= / ?max_size= in the URL"
        )
    if isinstance(error, psycopg.errors.InsufficientPrivilege):
        return StoreError(f"PostgreSQL store {shown!r}: permission denied ({text})")
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        return StoreUnavailableError(f"PostgreSQL store {shown!r} is unavailable: {text}")
    return StoreError(f"PostgreSQL store {shown!r} failed: {text}")
