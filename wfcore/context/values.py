"""Deterministic values: ``wf.random``, ``randint``, ``choice``, ``uuid``, ``utc_now``."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from wfcore._history import Kind
from wfcore._identity import operation_seed
from wfcore.context.replaying import Replaying
from wfcore.errors import ConfigurationError

__all__ = ["Values"]

T = TypeVar("T")
_ONE_MICROSECOND = timedelta(microseconds=1)
_TWO_POW_53 = float(1 << 53)


class Values(Replaying):
    """Values recorded on first execution and returned from the history on replay; random
    ones come from a keyed PRNG stream per position, keyed by the workflow's secret seed and
    the invocation (:func:`~wfcore._identity.operation_seed`)."""

    def random(self) -> float:
        """A float in [0, 1), recorded."""
        entry = self._replay(Kind.RANDOM, "")
        if entry is not None:
            value = entry.value
            return value if type(value) is float else float(value)
        value = (int.from_bytes(self._draw(0)[:8], "big") >> 11) / _TWO_POW_53
        return self._record(Kind.RANDOM, "", value)

    def randint(self, a: int, b: int) -> int:
        """An int N with a <= N <= b, recorded."""
        if type(a) is not int or type(b) is not int or a > b:
            raise ConfigurationError(f"wf.randint({a!r}, {b!r}) needs two ints with a <= b")
        entry = self._replay(Kind.RANDINT, "")
        if entry is not None:
            return int(entry.value)
        return self._record(Kind.RANDINT, "", a + self._below(b - a + 1))

    def choice(self, seq: Sequence[T]) -> T:
        """An element of a non-empty sequence; the chosen index is recorded."""
        if not isinstance(seq, Sequence) or not seq:
            raise ConfigurationError(
                f"wf.choice needs a non-empty list or tuple, got {type(seq).__name__} {seq!r:.40}"
            )
        entry = self._replay(Kind.CHOICE, "")
        if entry is not None:
            index = int(entry.value)
            if index >= len(seq):
                self._diverged(self._seq - 1, entry, f"choice() of {len(seq)} items")
            return seq[index]
        return seq[self._record(Kind.CHOICE, "", self._below(len(seq)))]

    def uuid(self) -> str:
        """An RFC 4122 version 4 UUID string, recorded."""
        entry = self._replay(Kind.UUID, "")
        if entry is not None:
            return str(entry.value)
        raw = bytearray(self._draw(0)[:16])
        raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
        raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
        h = raw.hex()
        return self._record(Kind.UUID, "", f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")

    def utc_now(self) -> datetime:
        """The tz-aware UTC time: real on first execution, strictly increasing, recorded."""
        entry = self._replay(Kind.UTC_NOW, "")
        fired_at, self._fired_at = self._fired_at, 0.0
        if entry is not None:
            now: datetime = entry.value
        else:
            last = self._last_now
            if fired_at:  # the latest fire time a sleep returned at since then (Timers)
                fired = datetime.fromtimestamp(fired_at, UTC)
                last = fired if last is None or last < fired else last
            now = datetime.fromtimestamp(self._rt.clock(), UTC)
            if last is not None and now <= last:
                now = last + _ONE_MICROSECOND
            self._record(Kind.UTC_NOW, "", now)
        self._last_now = now
        return now

    def _draw(self, counter: int) -> bytes:
        seed = self._seed
        if seed is None:
            seed = self._seed = operation_seed(
                self.workflow.workflow_id, self.invocation_id, self._workflow_record.seed
            )
        position = self._seq.to_bytes(8, "big") + counter.to_bytes(4, "big")
        return hashlib.blake2b(position, key=seed, digest_size=32).digest()

    def _below(self, n: int) -> int:
        """An unbiased int in [0, n) from this position's PRNG stream (rejection sampling)."""
        bits = max(1, (n - 1).bit_length())
        counter = 0
        while True:
            candidate = int.from_bytes(self._draw(counter), "big") >> (256 - bits)
            if candidate < n:
                return candidate
            counter += 1
