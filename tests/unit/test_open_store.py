"""open_store: URLs to stores, and clear errors for URLs that cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest

from wfcore import ConfigurationError, open_store
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
        ("postgres://localhost/db", "unknown store URL scheme 'postgres'"),
        ("localhost:6379", "is not a URL"),
        ("", "is not a URL"),
        (42, "is not a URL"),
    ],
)
def test_bad_urls_are_configuration_errors(url: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        open_store(url)  # type: ignore[arg-type]
    assert "memory://" in str(info.value)
