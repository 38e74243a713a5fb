"""Incremental history loads: an optional store capability.

A resume reads an invocation's whole history with ``StateStore.load``. A reader that already
holds a prefix of it (the engine's per-process history cache, see
:mod:`wfcore._history_cache`) can instead pass what it holds as a :class:`HistoryMark`
to ``load_since`` and get only what was added since, as a :class:`HistoryDelta`. A store
without ``load_since`` (or a wrapper such as ``DelegatingStore``) is read with ``load``.

What makes a held prefix trustworthy is checked by the reader, from what the store returns:

- ``epoch``: a store bumps an invocation's epoch whenever it changes history that was
  already written rather than appending to it (``reopen``: a repair rewrites entries and
  forgets outcomes). A different epoch means the held prefix may be stale.
- ``tail`` starts with the stored entry at ``length - 1``, the last one the reader holds: it
  must be byte-identical. Every entry carries the wall-clock time it was recorded, so a
  workflow purged and created again under the same ids (epoch back to 0) fails this check.
  A history shorter than the mark gives an empty tail: stale.
- ``outcome_count``: outcomes are only ever added within an epoch, so the held outcomes plus
  the ones returned must be exactly that many.

Any failed check makes the reader load the history in full (a mark of ``length`` 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from wfcore._models import InvocationRecord, WorkflowRecord

__all__ = [
    "EMPTY_MARK",
    "HistoryDelta",
    "HistoryMark",
    "IncrementalLoad",
    "pick_outcomes",
    "tail_start",
]


@dataclass(frozen=True, slots=True)
class HistoryMark:
    """What a reader holds of one invocation's history.

    Attributes:
        epoch: the epoch the held entries were read in.
        length: how many entries it holds (operations and lifecycle events); 0 asks for all.
        last: the entry at ``length - 1`` as it holds it (``b""`` when ``length`` is 0).
        open: seqs whose outcome it lacks and that may get one (children, timers, signal
            waits); the store returns the stored outcomes among them.
    """

    epoch: int
    length: int
    last: bytes
    open: tuple[int, ...]


EMPTY_MARK = HistoryMark(0, 0, b"", ())


@dataclass(frozen=True, slots=True)
class HistoryDelta:
    """What a store returns for a :class:`HistoryMark`, read in one round trip.

    Attributes:
        workflow: the workflow record.
        invocation: the invocation record (claimed, as ``load`` claims it).
        epoch: the invocation's history epoch now.
        tail: stored entries from position ``mark.length - 1`` on (every entry when the
            mark's length is 0).
        outcomes: stored outcomes at the mark's open seqs (every outcome when the mark's
            length is 0); a store may return more.
        outcome_count: how many outcomes the invocation has in all.
    """

    workflow: WorkflowRecord
    invocation: InvocationRecord
    epoch: int
    tail: list[bytes]
    outcomes: dict[int, bytes]
    outcome_count: int


@runtime_checkable
class IncrementalLoad(Protocol):
    """A store that can read an invocation's history past what a reader holds."""

    def load_since(
        self, workflow_id: str, invocation_id: str, mark: HistoryMark, *, claim: bool = True
    ) -> HistoryDelta | None:
        """As ``load`` (None when the invocation does not exist; ``claim`` the same), but
        entries from ``mark.length - 1`` and outcomes at ``mark.open`` only."""
        ...


def pick_outcomes(stored: Mapping[int, bytes], mark: HistoryMark) -> dict[int, bytes]:
    """The outcomes a delta for ``mark`` carries, from an in-memory map of them."""
    if not mark.length:
        return dict(stored)
    return {seq: stored[seq] for seq in mark.open if seq in stored}


def tail_start(mark: HistoryMark) -> int:
    """The first history position a delta for ``mark`` carries."""
    return mark.length - 1 if mark.length else 0
