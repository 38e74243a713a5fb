"""Durable timers: ``wf.sleep`` and ``wf.sleep_until``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from wfcore._durations import fire_time, to_seconds
from wfcore._history import Kind
from wfcore._models import WorkflowStatus
from wfcore.context.aio_loop import Wait
from wfcore.context.awaiting import Awaiting
from wfcore.context.runtime import _Suspend

__all__ = ["Timers"]


class Timers(Awaiting):
    """Sleeps that suspend the invocation (no worker held) until their fire time."""

    def sleep(self, duration: float | timedelta | str) -> Any:
        """Sleep durably: the invocation suspends (no worker held) and resumes after it.

        In an async workflow body, ``await wf.sleep(...)``.

        Args:
            duration: seconds, a ``timedelta``, or "90s", "5m", "2h", "1d", "1h30m".
        """
        seconds = to_seconds(duration)
        return self._timer(lambda now: now + seconds)

    def sleep_until(self, when: datetime) -> Any:
        """Sleep durably until a tz-aware ``datetime`` (naive ones are refused); awaitable
        in an async workflow body."""
        fire_at = fire_time(when)
        return self._timer(lambda now: fire_at)

    def _timer(self, fire_at_from: Callable[[float], float]) -> Any:
        aio = None if self._aio is None else self._loop()
        seq, fire_at = self._timer_entry(fire_at_from)
        if aio is not None:
            future = aio.wait_future()
            aio.add_wait(
                Wait(
                    (seq,),
                    lambda: self._fired(fire_at),
                    future=future,
                    fire_at=fire_at,
                    counts=False,
                    on_due=lambda: self._fire(seq),
                )
            )
            return future
        if seq not in self._outcomes:
            if self._strict or self._rt.clock() < fire_at:
                self._cancel_point()
                self._fatal = _Suspend([seq], wake_at=fire_at)
                raise self._fatal
            self._fire(seq)
        stopped_at = self._suspended_on  # what _waited((seq,)) does, without the call
        if stopped_at is not None and seq in stopped_at:
            self._suspended_on = None
        self._fired(fire_at)
        return None

    def _timer_entry(self, fire_at_from: Callable[[float], float]) -> tuple[int, float]:
        """Replay or record a timer's entry: its seq and fire time."""
        seq = self._seq
        entry = self._replay(Kind.SLEEP, "")
        fire_at = float(entry.value) if entry is not None else fire_at_from(self._rt.clock())
        if entry is None:
            self._record(Kind.SLEEP, "", fire_at)
        return seq, fire_at

    def _call_later_timer(self, delay: float) -> Wait:
        """A durable timer for ``loop.call_later`` in an async body (``asyncio.wait_for``,
        ``asyncio.wait(timeout=...)``, ``asyncio.timeout``); the loop adds its handle."""
        seq, fire_at = self._timer_entry(lambda now: now + delay)
        return Wait(
            (seq,),
            lambda: self._fired(fire_at),
            fire_at=fire_at,
            counts=False,
            on_due=lambda: self._fire(seq),
        )

    def _fire(self, seq: int) -> None:
        """A due timer: say so durably, so every later replay takes the same path."""
        fired = self._rt.codec.encode([WorkflowStatus.COMPLETED.value, self._rt.clock()])
        self._rt.store.record_outcome(self.workflow.workflow_id, self.invocation_id, seq, fired)
        self._outcomes[seq] = fired

    def _fired(self, fire_at: float) -> None:
        # utc_now() after the sleep is later than its fire time: kept as a number here (a
        # replayed sleep costs no datetime), folded into _last_now by utc_now.
        if fire_at > self._fired_at:
            self._fired_at = fire_at
