"""OpenTelemetry tracing of workflows (extra ``wfcore[otel]``: opentelemetry-api and -sdk).

:class:`WorkflowTracing` makes one span per run of an invocation. Every span of a workflow
tree is in one trace, whose id is derived from the root workflow's id
(:func:`trace_id_for`), so every run finds it, whoever sent its message. A run's parent is
the span that sent its message, when the message carried one (``traceparent`` in what it
carries for observers; the Dramatiq plugin puts it in the ``wfcore`` message option): the
run of the parent that started a child, the run of the child whose end woke its parent.
Runs whose message carried none (a workflow started outside any span, a message re-sent
by a recovery sweep) hang under the tree's root span id, :func:`root_span_id_for`, which
no process emits; a start from inside another trace's span is linked to that span.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from wfcore.observability._optional import require
from wfcore.observability.observer import Observer, replay_stats

if TYPE_CHECKING:
    from wfcore.context import WorkflowContext
    from wfcore.engine.run import RunResult

__all__ = ["TRACEPARENT", "WorkflowTracing", "root_span_id_for", "trace_id_for"]

TRACEPARENT = "traceparent"
"""The key, in what a message carries for observers, of the sending span (W3C format)."""

_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")


def _digest(root_workflow_id: str) -> bytes:
    return hashlib.sha256(b"wfcore-trace:" + root_workflow_id.encode()).digest()


def trace_id_for(root_workflow_id: str) -> int:
    """The trace id of every span of the workflow tree rooted at ``root_workflow_id``
    (``format(trace_id_for(wid), "032x")`` is how trace UIs show it)."""
    return int.from_bytes(_digest(root_workflow_id)[:16], "big") or 1


def root_span_id_for(root_workflow_id: str) -> int:
    """The span id runs of that tree hang under when their message named no parent."""
    return int.from_bytes(_digest(root_workflow_id)[16:24], "big") or 1


def traceparent(span_context: Any) -> str:
    """The W3C ``traceparent`` of an OpenTelemetry span context."""
    return (
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
        f"{int(span_context.trace_flags):02x}"
    )


class WorkflowTracing(Observer):
    """Spans for runs of invocations, on ``tracer_provider`` (default: the global one).

    Raises:
        ConfigurationError: OpenTelemetry is not installed (``wfcore[otel]``).
    """

    def __init__(self, tracer_provider: Any = None) -> None:
        self._trace: Any = require("opentelemetry.trace", "otel")
        self._context: Any = require("opentelemetry.context", "otel")
        self._tracer = self._trace.get_tracer("wfcore", tracer_provider=tracer_provider)

    def stamp(self, carried: dict[str, Any], delay: int | None = None) -> None:
        """Put the current span (if any) into what a message being sent carries."""
        span_context = self._trace.get_current_span().get_span_context()
        if span_context.is_valid:
            carried[TRACEPARENT] = traceparent(span_context)

    def run_started(self, ctx: WorkflowContext, carried: Mapping[str, Any] | None) -> Any:
        trace = self._trace
        identity = ctx.workflow
        root = identity.root_workflow_id
        trace_id, parent_id = trace_id_for(root), root_span_id_for(root)
        links = []
        sender = _parse(None if carried is None else carried.get(TRACEPARENT))
        if sender is not None and sender[0] == trace_id:
            parent_id = sender[1]
        elif sender is not None:  # sent from another trace (a client's request)
            links.append(trace.Link(self._span_context(*sender)))
        parent = trace.set_span_in_context(
            trace.NonRecordingSpan(self._span_context(trace_id, parent_id))
        )
        replayed, _ = replay_stats(ctx)
        span = self._tracer.start_span(
            f"run {ctx.task_name}",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            links=links,
            attributes={
                "wfcore.workflow_id": identity.workflow_id,
                "wfcore.workflow_type": identity.workflow_type,
                "wfcore.root_workflow_id": root,
                "wfcore.invocation_id": ctx.invocation_id,
                "wfcore.task": ctx.task_name,
                "wfcore.attempt": ctx.attempt,
                "wfcore.replaying": replayed > 0,
                "wfcore.replayed_entries": replayed,
            },
        )
        token = self._context.attach(trace.set_span_in_context(span))
        return span, token

    def run_ended(self, token: Any, ctx: WorkflowContext, result: RunResult | None) -> None:
        span, attached = token
        try:
            status = "REPLAY" if result is None else result.status.value
            span.set_attribute("wfcore.status", status)
            error = None if result is None else result.error
            if error is not None:
                span.record_exception(error)
                if status == "FAILED":
                    span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, str(error)))
        finally:
            span.end()
            self._context.detach(attached)

    def _span_context(self, trace_id: int, span_id: int) -> Any:
        trace = self._trace
        return trace.SpanContext(trace_id, span_id, is_remote=True, trace_flags=trace.TraceFlags(1))


def _parse(value: object) -> tuple[int, int] | None:
    if not isinstance(value, str):
        return None
    match = _TRACEPARENT.fullmatch(value)
    if match is None:
        return None
    return int(match[1], 16), int(match[2], 16)
