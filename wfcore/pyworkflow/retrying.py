"""A step's retry policy: ``max_retries`` and ``retry_delay`` ("exponential", "fixed", "5s")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from wfcore._durations import to_seconds
from wfcore.errors import ConfigurationError

__all__ = ["EXPONENTIAL_FIRST", "EXPONENTIAL_MAX", "FIXED_DEFAULT", "RetryPolicy"]

EXPONENTIAL_FIRST = 1.0
"""Seconds before the first retry with ``retry_delay="exponential"`` (then 2, 4, 8, ...)."""
EXPONENTIAL_MAX = 3600.0
"""The longest exponential wait between two attempts."""
FIXED_DEFAULT = 60.0
"""Seconds between attempts with ``retry_delay="fixed"``."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a step is tried again, and how long it waits before each retry.

    ``exponential`` waits 1 s, 2 s, 4 s, ... (at most 1 h); otherwise every wait is ``fixed``
    seconds. A ``RetryableError(retry_after=...)`` raised by the step overrides the wait.
    """

    max_retries: int
    exponential: bool
    fixed: float

    @classmethod
    def parse(cls, max_retries: object, retry_delay: object) -> RetryPolicy:
        """The policy of ``@step(max_retries=..., retry_delay=...)``.

        Raises:
            ConfigurationError: a negative or non-integer ``max_retries``, an unreadable
                ``retry_delay``.
        """
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigurationError(
                f"@step(max_retries={max_retries!r}): give the number of retries after the "
                "first attempt, an int >= 0"
            )
        if retry_delay == "exponential":
            return cls(max_retries, True, 0.0)
        if retry_delay == "fixed":
            return cls(max_retries, False, FIXED_DEFAULT)
        if isinstance(retry_delay, str | int | float | timedelta):
            try:
                return cls(max_retries, False, to_seconds(retry_delay))
            except ConfigurationError:
                pass
        raise ConfigurationError(
            f'@step(retry_delay={retry_delay!r}): use "exponential" (1 s, 2 s, 4 s, ...), '
            '"fixed" (60 s), or a fixed wait such as "5s", "2m", a number of seconds or a '
            "timedelta"
        )

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        if not self.exponential:
            return self.fixed
        return min(EXPONENTIAL_FIRST * float(2 ** min(retry - 1, 32)), EXPONENTIAL_MAX)
