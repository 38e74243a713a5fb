"""The engine's per-process cache of invocation histories, for incremental resumes.

Without it every resume of an invocation reads and decodes its whole history, so a workflow
of N sequential children costs O(N^2). With it a resume reads only what was added since
this process last ran the invocation (``load_since``, see :mod:`wfcore.store.incremental`),
and replays from entries it decoded once.

- What a held history may be trusted for is checked on every load against what the store
  returns (epoch, the last held entry byte for byte, the outcome count); a failed check
  loads the history in full. A store without ``load_since`` is always read in full.
- A run takes its invocation's history out of the cache and puts it back when it ended
  cleanly and will run again (suspended, or to be retried), extended by what it committed:
  two runs of one invocation in this process never share one (the second reads in full),
  and a run that lost a race, raised or finished the invocation drops it.
- Bounded: at most ``max_invocations`` histories and about ``max_bytes`` of them (stored
  bytes plus a per-entry allowance for decoded objects); the least recently used go first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from wfcore._history import Entry, Kind, Outcome, is_operation
from wfcore._models import Snapshot
from wfcore.store import StateStore
from wfcore.store.incremental import EMPTY_MARK, HistoryDelta, HistoryMark

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_INVOCATIONS", "HeldHistory", "HistoryCache"]

DEFAULT_MAX_INVOCATIONS = 1_000
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
# Allowance per entry or outcome for the objects a replay decodes from it.
_OVERHEAD = 200

# Kinds whose seq never gets an outcome (every other kind may: children, timers, signal
# waits, and kinds this version does not know).
_NO_OUTCOME = frozenset(
    kind.encode()
    for kind in (
        Kind.RANDOM,
        Kind.RANDINT,
        Kind.CHOICE,
        Kind.UUID,
        Kind.UTC_NOW,
        Kind.DETERMINISTIC,
        Kind.SET_DATA,
        Kind.GET_DATA,
        Kind.PATCHED,
        Kind.CANCELLED,
        Kind.SIGNAL_WORKFLOW,
        Kind.RESUMED,
    )
)
# Values a replay may hand out again and again: nothing can change them in place.
SHAREABLE = frozenset({type(None), bool, int, float, str, bytes, datetime})


def _may_get_outcome(data: bytes) -> bool:
    """Whether the operation entry ``data`` may get an outcome, from its kind's bytes (a
    msgpack ``[kind, ...]`` record; anything else counts as may)."""
    if len(data) < 2 or data[0] != 0x95 or not 0xA0 <= data[1] <= 0xBF:
        return True
    return data[2 : 2 + (data[1] & 0x1F)] not in _NO_OUTCOME


class HeldHistory:
    """One invocation's history as this process holds it, with what replays decoded."""

    __slots__ = (
        "decoded",
        "entries",
        "epoch",
        "finished",
        "open",
        "operations",
        "outcomes",
        "replayed",
        "results",
        "size",
    )

    def __init__(self, delta: HistoryDelta) -> None:
        self.epoch = delta.epoch
        self.entries: list[bytes] = []
        self.operations: list[bytes] = []
        # Per operation seq, its decoded entry once a replay decoded it (shareable only).
        self.decoded: list[Entry | None] = []
        self.outcomes: dict[int, bytes] = {}
        # Per seq, (the outcome's bytes, decoded) for outcomes with a shareable value.
        self.results: dict[int, tuple[bytes, Outcome]] = {}
        # Per seq of a sync execute_task replayed in full once: (task, outcome bytes, result).
        self.finished: dict[int, tuple[object, bytes, Any]] = {}
        self.open: set[int] = set()  # seqs that may get an outcome and have none held
        self.replayed = False  # whether a run replayed it (decoded entries kept from then)
        self.size = 0
        self.extend(delta.tail)
        self.add_outcomes(delta.outcomes)

    def mark(self) -> HistoryMark:
        entries = self.entries
        if not entries:
            return EMPTY_MARK
        return HistoryMark(self.epoch, len(entries), entries[-1], tuple(sorted(self.open)))

    def extend(self, entries: Sequence[bytes]) -> None:
        """Append entries stored after the held ones."""
        operations, decoded, open_seqs = self.operations, self.decoded, self.open
        size = 0
        for data in entries:
            size += len(data) + _OVERHEAD
            if is_operation(data):
                if _may_get_outcome(data):
                    open_seqs.add(len(operations))
                operations.append(data)
                decoded.append(None)
        self.entries.extend(entries)
        self.size += size

    def add_outcomes(self, outcomes: dict[int, bytes]) -> None:
        held, open_seqs = self.outcomes, self.open
        for seq, data in outcomes.items():
            if seq not in held:
                self.size += len(data) + _OVERHEAD
            held[seq] = data
            open_seqs.discard(seq)

    def advance(self, delta: HistoryDelta) -> bool:
        """Take in a delta read for this history's mark; False if it shows the held
        history stale (then nothing held may be used). Outcomes at seqs the mark did not
        know (operations another writer added) may still be missing: see ``complete``."""
        tail = delta.tail
        if delta.epoch != self.epoch or not tail or tail[0] != self.entries[-1]:
            return False
        if len(tail) > 1:
            self.extend(tail[1:])
        self.add_outcomes(delta.outcomes)
        return True

    def complete(self, delta: HistoryDelta) -> bool:
        """Whether every outcome stored when ``delta`` was read is held (outcomes are only
        ever added within an epoch, so the count says it)."""
        return len(self.outcomes) == delta.outcome_count


class HistoryCache:
    """Histories this process read, by (workflow id, invocation id), least recent first."""

    def __init__(
        self, *, max_invocations: int = DEFAULT_MAX_INVOCATIONS, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        self.max_invocations = max_invocations
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._held: OrderedDict[tuple[str, str], HeldHistory] = OrderedDict()
        self._bytes = 0
        self.hits = 0  # loads that used a held history
        self.misses = 0  # loads in full (nothing held, stale, or no load_since)

    def __len__(self) -> int:
        return len(self._held)

    @property
    def size(self) -> int:
        """Bytes held, as counted against ``max_bytes``."""
        return self._bytes

    def clear(self) -> None:
        with self._lock:
            self._held.clear()
            self._bytes = 0

    def load(
        self, store: StateStore, workflow_id: str, invocation_id: str
    ) -> tuple[Snapshot | None, HeldHistory | None]:
        """Claim and load an invocation for a run: its snapshot, and the held history the
        run takes (give it back with :meth:`give_back`), or None without ``load_since``."""
        load_since = getattr(store, "load_since", None)
        if load_since is None or self.max_invocations <= 0:
            return store.load(workflow_id, invocation_id), None
        key = (workflow_id, invocation_id)
        with self._lock:
            held = self._held.pop(key, None)
            if held is not None:
                self._bytes -= held.size
        delta: HistoryDelta | None = load_since(
            workflow_id, invocation_id, EMPTY_MARK if held is None else held.mark()
        )
        if delta is None:
            return None, None
        claimed = delta
        if held is not None:
            fresh = held.advance(delta)
            if fresh and not held.complete(delta):
                # Another writer added operations that have outcomes already: read those
                # (the mark knows their seqs now), without claiming it a second time.
                delta = load_since(workflow_id, invocation_id, held.mark(), claim=False)
                if delta is None:
                    return None, None
                fresh = held.advance(delta) and held.complete(delta)
            if not fresh:
                held = None
                # Stale: read in full, without claiming it a second time.
                delta = load_since(workflow_id, invocation_id, EMPTY_MARK, claim=False)
                if delta is None:
                    return None, None
        if held is None:
            self.misses += 1
            held = HeldHistory(delta)
        else:
            self.hits += 1
        snapshot = Snapshot(claimed.workflow, claimed.invocation, held.entries, dict(held.outcomes))
        return snapshot, held

    def give_back(self, key: tuple[str, str], held: HeldHistory, written: Sequence[bytes]) -> None:
        """Hold ``held`` again, extended by the entries its run ``written`` after it."""
        if written:
            held.extend(written)
        if held.size > self.max_bytes:
            return
        with self._lock:
            old = self._held.pop(key, None)
            if old is not None:  # another run of it gave one back meanwhile: keep the newer
                self._bytes -= old.size
            self._held[key] = held
            self._bytes += held.size
            while self._held and (
                len(self._held) > self.max_invocations or self._bytes > self.max_bytes
            ):
                _, dropped = self._held.popitem(last=False)
                self._bytes -= dropped.size

    def drop(self, key: tuple[str, str]) -> None:
        with self._lock:
            held = self._held.pop(key, None)
            if held is not None:
                self._bytes -= held.size


def shareable(value: Any) -> bool:
    """Whether a decoded value may be handed to workflow code more than once."""
    return type(value) in SHAREABLE
