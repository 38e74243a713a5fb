"""Slow duplicates: tests that repeat on another store what the default suite already proves
there in a bounded form (the PostgreSQL copies of the chaos and crash-point runs). They are
marked ``slow`` and skipped unless ``WFCORE_SLOW=1``::

    WFCORE_SLOW=1 .venv/bin/python -m pytest -m slow tests/chaos
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import pytest

__all__ = ["SLOW_DUPLICATE", "slow_duplicate"]

_ASKED = os.environ.get("WFCORE_SLOW", "") not in ("", "0")
_SKIP = pytest.mark.skipif(
    not _ASKED, reason="slow duplicate of a default-suite test: set WFCORE_SLOW=1 to run it"
)
SLOW_DUPLICATE = (pytest.mark.slow, _SKIP)
"""The marks of a slow duplicate, for ``pytest.param(..., marks=[..., *SLOW_DUPLICATE])``."""

F = TypeVar("F", bound=Callable[..., object])


def slow_duplicate(test: F) -> F:
    """Mark a whole test a slow duplicate."""
    for mark in SLOW_DUPLICATE:
        test = mark(test)
    return test
