"""When a schedule fires: cron expressions (``croniter``) or a fixed ``every`` interval."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wfcore._durations import to_seconds
from wfcore.errors import ConfigurationError

__all__ = ["OVERLAPS", "Schedule", "fire_key"]

OVERLAPS = ("skip", "buffer_one", "allow")


@dataclass(frozen=True, slots=True)
class Schedule:
    """A schedule's definition, as stored in the arguments of its ``schedule-<id>`` workflow."""

    schedule_id: str
    task: str
    cron: str | None
    every: float | None
    args: list[Any]
    kwargs: dict[str, Any]
    overlap: str
    catchup_window: float

    @classmethod
    def build(
        cls,
        schedule_id: str,
        task: str,
        *,
        cron: str | None,
        every: object,
        args: tuple[Any, ...] | list[Any],
        kwargs: dict[str, Any] | None,
        overlap: str,
        catchup_window: object,
    ) -> Schedule:
        """A checked schedule; ConfigurationError names what is wrong."""
        if (cron is None) == (every is None):
            raise ConfigurationError(
                f"schedule {schedule_id!r}: pass exactly one of cron= (e.g. '*/5 * * * *') "
                "or every= (e.g. '10m')"
            )
        if overlap not in OVERLAPS:
            raise ConfigurationError(
                f"schedule {schedule_id!r}: overlap must be one of {', '.join(OVERLAPS)}, "
                f"got {overlap!r}"
            )
        period = None
        if every is not None:
            period = _seconds(schedule_id, "every", every)
            if period < 1:
                raise ConfigurationError(
                    f"schedule {schedule_id!r}: every= must be at least 1 second, got {every!r}"
                )
        window = _seconds(schedule_id, "catchup_window", catchup_window)
        schedule = cls(
            schedule_id, task, cron, period, list(args), dict(kwargs or {}), overlap, window
        )
        schedule.next_fire(0.0)  # validates the cron expression now, at declaration
        return schedule

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Schedule:
        """The schedule stored as ``config`` (see ``config``)."""
        return cls(**config)

    def config(self) -> dict[str, Any]:
        """A plain dict the codec stores."""
        return {
            "schedule_id": self.schedule_id,
            "task": self.task,
            "cron": self.cron,
            "every": self.every,
            "args": self.args,
            "kwargs": self.kwargs,
            "overlap": self.overlap,
            "catchup_window": self.catchup_window,
        }

    def next_fire(self, after: float) -> float:
        """The first fire time (epoch seconds) strictly after ``after``.

        ``every`` fire times are multiples of the period since the epoch, so every worker and
        every restart computes the same ones; cron expressions are read in UTC.
        """
        if self.every is not None:
            return (math.floor(after / self.every) + 1) * self.every
        croniter = _croniter()
        try:
            start = datetime.fromtimestamp(after, UTC)
            return float(croniter(self.cron, start).get_next(float))
        except (ValueError, KeyError) as exc:
            raise ConfigurationError(
                f"schedule {self.schedule_id!r}: cannot read the cron expression "
                f"{self.cron!r} ({exc}); use five fields like '*/5 * * * *'"
            ) from exc


def fire_key(schedule_id: str, fire_at: float) -> str:
    """The idempotency key of the workflow a schedule starts at ``fire_at``: every firer
    derives the same, so the store's idempotent start makes it one workflow."""
    when = datetime.fromtimestamp(fire_at, UTC).isoformat(timespec="milliseconds")
    return f"schedule:{schedule_id}:{when}"


def _seconds(schedule_id: str, what: str, value: object) -> float:
    try:
        return to_seconds(value)
    except ConfigurationError as exc:
        raise ConfigurationError(f"schedule {schedule_id!r}: {what}= {exc}") from exc


def _croniter() -> Any:
    try:
        from croniter import croniter
    except ImportError:
        raise ConfigurationError(
            "cron= schedules need the croniter package: pip install 'wfcore[schedules]' "
            "(or use every=)"
        ) from None
    return croniter
