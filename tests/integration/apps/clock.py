"""A clock tests move forward, shared by processes: real time plus an offset kept in a file.

Passed as ``App(clock=...)`` in the test process and in its worker processes, so a test can
make a one-day ``sleep`` due (``advance(86400)``) without waiting; the recovery sweep (or
``app.recover()``) then wakes the sleeping workflow.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["OffsetClock"]


class OffsetClock:
    """``time.time()`` plus the seconds written in ``path`` (0 when it does not exist)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._seen: tuple[int, float] = (-1, 0.0)

    def __call__(self) -> float:
        return time.time() + self.offset()

    def offset(self) -> float:
        """The seconds this clock is ahead of real time."""
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return 0.0
        if mtime != self._seen[0]:  # read again only when the file changed
            self._seen = (mtime, float(self.path.read_text() or 0))
        return self._seen[1]

    def advance(self, seconds: float) -> None:
        """Move the clock (of every process using this file) ``seconds`` forward."""
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(repr(self.offset() + seconds))
        tmp.replace(self.path)  # atomic: a reader sees the old or the new offset

    def reset(self) -> None:
        """Back to real time."""
        self.path.unlink(missing_ok=True)
