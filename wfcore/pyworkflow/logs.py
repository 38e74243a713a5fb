"""``wfcore.configure_logging``: PyWorkflow's logging set-up, on wfcore's log formatters.

Every record logged while a workflow or one of its steps runs (by any logger: the
workflow's, a library's) gets ``run_id`` and ``workflow_name``; inside a step also
``step_id`` (the step's invocation id) and ``step_name``. The formatters are
:mod:`wfcore.observability.logging`'s (text with the fields appended, or one JSON object a
line); this only adds the fields and the handler.
"""

from __future__ import annotations

import logging

from wfcore._current import current_or_none
from wfcore.observability.logging import configure
from wfcore.pyworkflow.definitions import step_name_of

__all__ = ["CONTEXT_FIELDS", "ContextFilter", "configure_logging"]

CONTEXT_FIELDS = ("run_id", "workflow_name", "step_id", "step_name")
"""The fields ``configure_logging(show_context=True)`` puts on records, in this order."""


class ContextFilter(logging.Filter):
    """Adds the running workflow's (and step's) fields to each record; passes every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        values = record.__dict__
        ctx = current_or_none()
        invocation_id: str | None
        if ctx is not None:
            run_id, invocation_id, task = ctx.workflow.workflow_id, ctx.invocation_id, ctx.task_name
            values.setdefault("workflow_name", ctx.workflow.workflow_type)
        elif "workflow_id" in values:  # the engine's records about a run, logged outside it
            run_id, invocation_id = values["workflow_id"], values.get("invocation_id")
            task = str(values.get("task") or "")
        else:
            return True
        values.setdefault("run_id", run_id)
        if invocation_id and invocation_id != run_id:  # a child of the run: a step
            values.setdefault("step_id", invocation_id)
            values.setdefault("step_name", step_name_of(task))
        return True


def configure_logging(
    level: int | str = "INFO",
    log_file: str | None = None,
    json_logs: bool = False,
    show_context: bool = True,
) -> logging.Handler:
    """Send log records from ``level`` on to stderr, or appended to ``log_file``.

    Replaces the handler an earlier call added (calling it twice does not log twice).

    Args:
        level: the root logger's level ("DEBUG", "INFO", ... or a number).
        log_file: a file to append to instead of stderr.
        json_logs: one JSON object a line (``wfcore.logging.JsonFormatter``) instead of text.
        show_context: put ``run_id``, ``workflow_name``, ``step_id``, ``step_name`` on
            every record logged inside a workflow run, and show them.

    Returns:
        The handler added to the root logger (remove it to undo).
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "wfcore_configure_logging", False)]:
        root.removeHandler(old)
        old.close()
    handler = configure(
        level,
        json=json_logs,
        log_file=log_file,
        extra_fields=CONTEXT_FIELDS if show_context else (),
    )
    if show_context:
        handler.addFilter(ContextFilter())
    handler.wfcore_configure_logging = True  # type: ignore[attr-defined]
    return handler
