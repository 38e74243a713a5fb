"""psycopg 3 and psycopg_pool, which only the PostgreSQL store needs (the ``wfcore[postgres]``
extra): every ``_postgres*`` module imports them from here, so a missing extra is reported
once, by name, when a PostgreSQL store is opened."""

from __future__ import annotations

from wfcore.errors import ConfigurationError

try:
    import psycopg
    import psycopg_pool
    from psycopg import sql
except ImportError as e:
    raise ConfigurationError(
        f"the PostgreSQL store needs psycopg 3 and psycopg_pool, which are not installed ({e}); "
        "install the extra: pip install 'wfcore[postgres]'"
    ) from None

__all__ = ["psycopg", "psycopg_pool", "sql"]
