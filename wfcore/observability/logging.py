"""Log formatting that shows which workflow a record is about (``wfcore.logging``).

Records from ``wf.logger`` and from the engine carry the invocation's identity in their
``extra`` fields: ``workflow_id``, ``invocation_id``, ``task``, ``seq``, ``attempt`` and
``replaying``. Default formats (Dramatiq's included) do not print them; the formatters
here do. Nothing here touches the host's logging unless :func:`configure` or
:func:`install` is called.
"""

from __future__ import annotations

import json as _json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = ["FIELDS", "JsonFormatter", "WorkflowFormatter", "configure", "install"]

FIELDS = ("workflow_id", "invocation_id", "task", "seq", "attempt", "replaying")
"""The workflow fields wfcore puts on its log records, in the order they are shown."""

TEXT_FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The workflow fields ``record`` carries (none on records from other code)."""
    values = record.__dict__
    return {name: values[name] for name in FIELDS if name in values}


class WorkflowFormatter(logging.Formatter):
    """A text formatter that appends the record's workflow fields, when it has them::

        2025-01-01 12:00:00,000 INFO [wfcore.task.order] charged [workflow_id=o-1
        invocation_id=o-1 task=order seq=3 attempt=1 replaying=False]

    ``fmt`` (default :data:`TEXT_FORMAT`) formats the rest as ``logging.Formatter`` does;
    the ``extra`` names in ``extra_fields`` are shown after the workflow fields.
    """

    def __init__(
        self, fmt: str | None = None, datefmt: str | None = None, extra_fields: Iterable[str] = ()
    ) -> None:
        super().__init__(fmt or TEXT_FORMAT, datefmt)
        self._extra = tuple(extra_fields)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = _fields(record)
        values = record.__dict__
        fields.update((name, values[name]) for name in self._extra if name in values)
        if not fields:
            return text
        shown = " ".join(f"{name}={value}" for name, value in fields.items())
        head, newline, rest = text.partition("\n")  # after the message, before a traceback
        return f"{head} [{shown}]{newline}{rest}"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (ISO 8601, UTC), ``level``, ``logger``,
    ``message``, the workflow fields it has, ``exc_info`` (the formatted traceback) and
    the ``extra`` names listed in ``extra_fields``."""

    def __init__(self, extra_fields: Iterable[str] = ()) -> None:
        super().__init__()
        self._extra = tuple(extra_fields)

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        values = record.__dict__
        out.update((name, values[name]) for name in self._extra if name in values)
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack_info"] = self.formatStack(record.stack_info)
        return _json.dumps(out, default=repr)


def _formatter(json: bool, extra_fields: Iterable[str] = ()) -> logging.Formatter:
    return JsonFormatter(extra_fields) if json else WorkflowFormatter(extra_fields=extra_fields)


def install(*, json: bool = False, logger: logging.Logger | None = None) -> int:
    """Give every handler of ``logger`` (default: the root logger) wfcore's formatter.

    For a process whose logging is set up by someone else, e.g. a ``dramatiq`` worker
    (the CLI configures the root logger, then imports the broker's module: call this
    there). A text formatter keeps each handler's format and appends the workflow fields.
    Returns how many handlers it changed.
    """
    target = logger or logging.getLogger()
    for handler in target.handlers:
        old = handler.formatter
        if json:
            handler.setFormatter(JsonFormatter())
        elif not isinstance(old, WorkflowFormatter):
            fmt = None if old is None else old._fmt
            handler.setFormatter(WorkflowFormatter(fmt, None if old is None else old.datefmt))
    return len(target.handlers)


def configure(
    level: int | str = logging.INFO,
    *,
    json: bool = False,
    stream: TextIO | None = None,
    logger: logging.Logger | None = None,
    log_file: str | None = None,
    extra_fields: Iterable[str] = (),
) -> logging.Handler:
    """Log to ``stream`` (default stderr), or appending to ``log_file``, through wfcore's
    formatter (showing also the ``extra`` names in ``extra_fields``), from ``level`` on.

    Adds one handler to ``logger`` (default: the root logger) and sets its level; for
    programs that own their logging set-up. Returns the handler (remove it to undo).
    """
    target = logger or logging.getLogger()
    handler: logging.Handler = (
        logging.StreamHandler(stream or sys.stderr)
        if log_file is None
        else logging.FileHandler(log_file, encoding="utf-8")
    )
    handler.setFormatter(_formatter(json, extra_fields))
    target.addHandler(handler)
    target.setLevel(level)
    return handler
