"""Durations and instants for durable timers: "90s", "1h30m", seconds, timedelta, datetime."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from wfcore.errors import ConfigurationError

__all__ = ["deadline_after", "fire_time", "to_seconds"]

_PATTERN = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?")
_UNITS = (86400, 3600, 60, 1)
_HELP = 'use a number of seconds, a timedelta, or a string like "90s", "5m", "2h", "1d", "1h30m"'


def to_seconds(duration: object) -> float:
    """Seconds in a duration; clear errors for anything else or a negative duration."""
    if isinstance(duration, bool):
        raise ConfigurationError(f"wf.sleep got {duration!r}; {_HELP}")
    if isinstance(duration, int | float):
        seconds = float(duration)
    elif isinstance(duration, timedelta):
        seconds = duration.total_seconds()
    elif isinstance(duration, str):
        match = _PATTERN.fullmatch(duration.strip())
        if not duration.strip() or match is None:
            raise ConfigurationError(f"wf.sleep cannot read the duration {duration!r}; {_HELP}")
        seconds = sum(float(g) * unit for g, unit in zip(match.groups(), _UNITS, strict=True) if g)
    else:
        raise ConfigurationError(f"wf.sleep got a {type(duration).__name__}; {_HELP}")
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        raise ConfigurationError(f"wf.sleep needs a finite duration >= 0, got {duration!r}")
    return seconds


def fire_time(when: object) -> float:
    """The epoch time of a tz-aware datetime; naive datetimes are refused."""
    if not isinstance(when, datetime):
        raise ConfigurationError(
            f"wf.sleep_until needs a tz-aware datetime, got {type(when).__name__}"
        )
    if when.tzinfo is None or when.utcoffset() is None:
        raise ConfigurationError(
            f"wf.sleep_until got the naive datetime {when.isoformat()}: its time zone is unknown; "
            "pass an aware one, e.g. datetime(..., tzinfo=timezone.utc)"
        )
    return when.timestamp()


def deadline_after(now: float, max_duration: float | None, delay: float = 0.0) -> float | None:
    """The deadline of a workflow created at ``now`` (after ``delay``), or None."""
    if max_duration is None:
        return None
    if isinstance(max_duration, bool) or not isinstance(max_duration, int | float):
        raise ConfigurationError(f"max_duration must be seconds, got {max_duration!r}")
    if not 0 < max_duration < float("inf"):
        raise ConfigurationError(f"max_duration must be > 0 seconds, got {max_duration!r}")
    return now + delay + float(max_duration)
