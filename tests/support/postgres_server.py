"""A throwaway PostgreSQL database on the machine's PostgreSQL service, and schemas in it.

The server is ``WFCORE_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/``);
each test session creates one uniquely named database there and drops it at the end, and
each test that needs a fresh store gets a unique schema in it (dropped after the test).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

__all__ = ["SERVER_URL", "database_url", "drop_schema", "reachable", "session_database"]

SERVER_URL = os.environ.get("WFCORE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/")


def database_url(name: str) -> str:
    """The URL of database ``name`` on the test server."""
    base, _, query = SERVER_URL.partition("?")
    scheme, _, rest = base.partition("://")
    host = rest.split("/", 1)[0]
    return f"{scheme}://{host}/{name}" + (f"?{query}" if query else "")


def reachable() -> str | None:
    """None if the test server accepts connections, else why not."""
    try:
        with psycopg.connect(database_url("postgres"), connect_timeout=3):
            return None
    except psycopg.Error as e:
        return str(e).strip()


@contextmanager
def session_database() -> Iterator[str]:
    """A new, uniquely named database (its URL), dropped afterwards with its connections."""
    name = f"wfcore_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url("postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield database_url(name)
    finally:
        with psycopg.connect(database_url("postgres"), autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def drop_schema(url: str, schema: str) -> None:
    """Drop ``schema`` (and everything in it) from the database at ``url``."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
