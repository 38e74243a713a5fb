"""A tiny cross-process journal of side effects, kept in files.

Workers may be other processes, so "how many times did this body run" cannot be counted in
memory. Each record is one JSON line appended with ``O_APPEND`` (atomic for short lines).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["Ledger"]


class Ledger:
    """JSON-line journals and one-shot markers under one directory, shared by processes."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> Path:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"bad ledger name {name!r}")
        return self.root / name

    def append(self, name: str, record: Any = None) -> None:
        """Add one record to journal ``name``."""
        line = (json.dumps(record, sort_keys=True) + "\n").encode()
        fd = os.open(self._path(name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def read(self, name: str) -> list[Any]:
        """Every record of journal ``name``, oldest first (empty if none)."""
        try:
            text = self._path(name).read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line]

    def count(self, name: str) -> int:
        """How many records journal ``name`` holds."""
        return len(self.read(name))

    def first(self, name: str) -> bool:
        """True exactly once per ``name``, across every process: a one-shot marker."""
        try:
            fd = os.open(self._path(name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        os.close(fd)
        return True

    def exists(self, name: str) -> bool:
        """Whether marker or journal ``name`` exists."""
        return self._path(name).exists()

    def touch(self, name: str) -> None:
        """Create marker ``name``."""
        self._path(name).touch()
