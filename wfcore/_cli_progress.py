"""Progress bars of the long CLI commands (export of many, replay of many, purge, bulk
repairs): drawn with rich on stderr, only for a person watching a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["tracked"]

T = TypeVar("T")


def tracked(items: Iterable[T], total: int, label: str, *, quiet: bool) -> Iterator[T]:
    """``items`` (``total`` of them), advancing a bar labelled ``label`` as each is taken.

    No bar when ``quiet`` (``--json``), when stderr is not a terminal (pipes, CI logs), or for
    a single item: stdout and the JSON output are never touched either way.
    """
    if quiet or total <= 1 or not sys.stderr.isatty():
        yield from items
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as progress:
        bar = progress.add_task(label, total=total)
        for item in items:
            yield item
            progress.advance(bar)
