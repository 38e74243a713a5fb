"""Durable timers: ``wf.sleep`` and ``wf.sleep_until``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from wfcore._durations import fire_time, to_seconds
from wfcore._history import Kind
from wfcore._models import WorkflowStatus
from wfcore.context.replaying import Replaying
from wfcore.context.runtime import _Suspend

__all__ = ["Timers"]


class Timers(Replaying):
    """Sleeps that suspend the invocation (no worker held) until their fire time."""

    def sleep(self, duration: float | timedelta | str) -> None:
        """Sleep durably: the invocation suspends (no worker held) and resumes after it.

        Args:
            duration: seconds, a ``timedelta``, or "90s", "5m", "2h", "1d", "1h30m".
        """
        seconds = to_seconds(duration)
        self._timer(lambda now: now + seconds)

    def sleep_until(self, when: datetime) -> None:
        """Sleep durably until a tz-aware ``datetime`` (naive ones are refused)."""
        fire_at = fire_time(when)
        self._timer(lambda now: fire_at)

    def _timer(self, fire_at_from: Callable[[float], float]) -> None:
        seq = self._seq
        entry = self._replay(Kind.SLEEP, "")
        fire_at = float(entry.value) if entry is not None else fire_at_from(self._rt.clock())
        if entry is None:
            self._record(Kind.SLEEP, "", fire_at)
        if seq not in self._outcomes:
            if self._strict or self._rt.clock() < fire_at:
                self._cancel_point()
                self._fatal = _Suspend([seq], wake_at=fire_at)
                raise self._fatal
            # Due: say so durably, so every later replay takes the same path.
            fired = self._rt.codec.encode([WorkflowStatus.COMPLETED.value, self._rt.clock()])
            self._rt.store.record_outcome(self.workflow.workflow_id, self.invocation_id, seq, fired)
            self._outcomes[seq] = fired
        self._waited((seq,))
        fired_at = datetime.fromtimestamp(fire_at, UTC)
        if self._last_now is None or self._last_now < fired_at:
            self._last_now = fired_at  # utc_now() after the sleep is later than its fire time
