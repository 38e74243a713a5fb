"""open_store: URLs to stores, and clear errors for URLs that cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest

from wfcore import ConfigurationError, open_store
from wfcore.store import mask_url
from wfcore.store.memory import MemoryStore
from wfcore.store.sqlite import SQLiteStore


def test_memory_and_sqlite_urls(tmp_path: Path) -> None:
    assert isinstance(open_store("memory://"), MemoryStore)
    store = open_store(f"sqlite:///{tmp_path}/x.sqlite3")
    assert isinstance(store, SQLiteStore)
    store.close()
    assert (tmp_path / "x.sqlite3").exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mongodb://localhost/db", "unknown store URL scheme 'mongodb'"),
        ("localhost:6379", "is not a URL"),
        ("", "is not a URL"),
        (42, "is not a URL"),
    ],
)
def test_bad_urls_are_configuration_errors(url: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        open_store(url)  # type: ignore[arg-type]
    assert "memory://" in str(info.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://:s3cret@[::1/0", "is malformed"),
        ("rediss://user:s3cret@[::1/0?timeout=1", "is malformed"),
        ("mongodb://user:s3cret@host/db", "unknown store URL scheme 'mongodb'"),
        ("redis:/user:s3cret@host", "is not a URL"),
        ("memory://x", "must be exactly 'memory://'"),
        ("memory:///", "must be exactly 'memory://'"),
        ("memory://?retention=5", "must be exactly 'memory://'"),
        ("sqlite://user:s3cret@host/x.db", "is not an SQLite store URL"),
        ("sqlite://[::1/x.db", "is malformed"),
        ("redis://host:99999/0?password=s3cret", "Port out of range"),
        ("redis://host/0?password=s3cret&bogus=1", "bad Redis store URL"),
    ],
)
def test_malformed_urls_say_so_without_the_password(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        open_store(url)
    assert "s3cret" not in str(info.value)
    assert info.value.__cause__ is None  # no raw ValueError traceback attached


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@[::1/0", "redis://:***@[::1/0"),
        ("redis://user:p%40ss@host:6379/0?prefix=a", "redis://user:***@host:6379/0?prefix=a"),
        ("redis://user:p/ss@host/0", "redis://user:***@host/0"),
        ("redis://host/0?password=pw&prefix=x", "redis://host/0?password=***&prefix=x"),
        ("redis://user@host/0", "redis://user@host/0"),
        ("sqlite:///a@b:c.db", "sqlite:///a@b:c.db"),
        ("memory://", "memory://"),
    ],
)
def test_mask_url_hides_passwords_only(url: str, shown: str) -> None:
    assert mask_url(url) == shown
