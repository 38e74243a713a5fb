"""Structured step logs: the ``StepLogger`` protocol, ``StructuredLogger`` and the
``log`` helper actions and decisions receive (``StepLogHelper``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO, runtime_checkable

from wfcore.errors import ConfigurationError
from wfcore.flow.results import Result

__all__ = [
    "BaseStepLogger",
    "StepLogHelper",
    "StepLogger",
    "StructuredLogger",
    "TeeLogger",
    "format_line",
    "logged_at",
    "logged_time",
    "resolve_logger",
]

# When lines of a durable run are handed to the caller's logger after the run, each carries
# the time it happened; loggers read it through ``BaseStepLogger.now()``.
_LOGGED_AT: ContextVar[datetime | None] = ContextVar("wfcore_flow_logged_at", default=None)


@contextmanager
def logged_at(when: datetime) -> Iterator[None]:
    """Within the block, ``BaseStepLogger.now()`` returns ``when``."""
    token = _LOGGED_AT.set(when)
    try:
        yield
    finally:
        _LOGGED_AT.reset(token)


def logged_time() -> datetime | None:
    """The time ``logged_at`` set for the lines being logged now, if any."""
    return _LOGGED_AT.get()


@runtime_checkable
class StepLogger(Protocol):
    """What a run's logger implements: ``log`` once per executed step (after its decision);
    ``event`` for lines the ``log`` helper emits (optional: a logger without it gets none)."""

    def log(self, step_name: str, payload: Any, result: Result) -> None:
        """One executed step: its payload and its ``Result`` (``ok``, ``value``, ``error``)."""
        ...


class BaseStepLogger:
    """A ``StepLogger`` whose ``event`` does nothing; subclass it and implement ``log``."""

    def log(self, step_name: str, payload: Any, result: Result) -> None:
        """One executed step (override)."""

    def event(self, step_name: str, name: str, /, **data: Any) -> None:
        """A helper event (no-op by default)."""

    def now(self) -> datetime:
        """When the line being logged happened (UTC): now, or, for the lines of a durable
        run handed over after it finished, the time recorded when it happened."""
        at = _LOGGED_AT.get()
        return datetime.now(UTC) if at is None else at


def format_line(timestamp: datetime, step: str, fields: Mapping[str, Any]) -> str:
    """``timestamp=<ISO> step=<name> key=<repr(value)> ...`` plus a newline."""
    parts = [f"timestamp={timestamp.isoformat(timespec='seconds')}", f"step={step}"]
    parts += [f"{key}={value!r}" for key, value in fields.items()]
    return " ".join(parts) + "\n"


class StructuredLogger(BaseStepLogger):
    """Writes one plain-text line per call to ``sink`` (anything with ``write(str)``).

    Step lines: ``timestamp=… step=… payload=… result=… error=…`` (reprs; ``error=None`` on
    success). Events: ``timestamp=… step=… event=<name> key=value …``.
    """

    def __init__(self, sink: TextIO | Any) -> None:
        if not callable(getattr(sink, "write", None)):
            raise ConfigurationError(
                f"StructuredLogger needs a sink with a write(str) method (a file, sys.stdout, "
                f"StringIO), got {type(sink).__name__}"
            )
        self.sink = sink

    def log(self, step_name: str, payload: Any, result: Result) -> None:
        """Write the step's line."""
        fields = {"payload": payload, "result": result.value, "error": result.error}
        self.sink.write(format_line(self.now(), step_name, fields))

    def event(self, step_name: str, name: str, /, **data: Any) -> None:
        """Write an event line."""
        self.sink.write(format_line(self.now(), step_name, {"event": _Bare(name), **data}))


class _Bare:
    """An event name, written without quotes (``event=start``)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


class TeeLogger(BaseStepLogger):
    """Forwards every call to several loggers (``logger=`` and ``logger_sink=`` together)."""

    def __init__(self, *loggers: StepLogger) -> None:
        self.loggers = loggers

    def log(self, step_name: str, payload: Any, result: Result) -> None:
        for logger in self.loggers:
            logger.log(step_name, payload, result)

    def event(self, step_name: str, name: str, /, **data: Any) -> None:
        for logger in self.loggers:
            event = getattr(logger, "event", None)
            if event is not None:
                event(step_name, name, **data)


class StepLogHelper:
    """The ``log`` argument of actions and decisions: ``log.event(name, **details)`` writes an
    event line tagged with the step's name. Without a logger it does nothing."""

    __slots__ = ("logger", "step_name")

    def __init__(self, logger: StepLogger | None, step_name: str) -> None:
        self.logger = logger
        self.step_name = step_name

    def event(self, name: str, /, **data: Any) -> None:
        """Emit event ``name`` with ``data`` (a logger without ``event`` ignores it)."""
        event = getattr(self.logger, "event", None)
        if event is not None:
            event(self.step_name, name, **data)


def resolve_logger(logger: StepLogger | None, logger_sink: Any) -> StepLogger | None:
    """The run's logger: ``logger``; a ``StructuredLogger`` on ``logger_sink``; both when both
    are given (the sink gets the plain lines, ``logger`` every call too); else None."""
    if logger is not None and not callable(getattr(logger, "log", None)):
        raise ConfigurationError(
            f"logger= takes a StepLogger (an object with log(step_name, payload, result)), "
            f"got {type(logger).__name__}; pass a file-like object as logger_sink= instead"
        )
    structured = None if logger_sink is None else StructuredLogger(logger_sink)
    if logger is None:
        return structured
    return logger if structured is None else TeeLogger(structured, logger)
