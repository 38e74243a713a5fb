"""OpenTelemetry tracing of workflows (extra ``wfcore[otel]``: opentelemetry-api and -sdk).

:class:`WorkflowTracing` makes one span per run of an invocation. Every span of a workflow
tree is in one trace, whose id is derived from the root workflow's id
(:func:`trace_id_for`), so every run finds it, whoever sent its message. A run's parent is
the span that sent its message, when the message carried one (``traceparent`` in what it
carries for observers; the Dramatiq plugin puts it in the ``wfcore`` message option): the
run of the parent that started a child, the run of the child whose end woke its parent.
Runs whose message carried none (a workflow started outside any span, a message re-sent
by a recovery sweep) hang under the tree's root span, whose id is :func:`root_span_id_for`;
a start from inside another trace's span is linked to that span.

The root span (``workflow <type>``, from the root workflow's creation to its end) is
emitted by the process that sees the root workflow end, so a finished tree is one complete
trace; until then its runs point at a parent not exported yet, as any long trace's do. It
needs the OpenTelemetry SDK's tracer (it sets that span's ids, derived from the root
workflow's id, through the tracer's ``id_generator``); with another tracer it is left out.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from wfcore.observability._optional import require
from wfcore.observability.observer import Observer, replay_stats

if TYPE_CHECKING:
    from wfcore._models import WorkflowIdentity, WorkflowStatus
    from wfcore.context import WorkflowContext
    from wfcore.engine.run import RunResult

__all__ = ["TRACEPARENT", "WorkflowTracing", "root_span_id_for", "trace_id_for"]

TRACEPARENT = "traceparent"
"""The key, in what a message carries for observers, of the sending span (W3C format)."""

_log = logging.getLogger("wfcore.observability")
_REMEMBERED = 10_000
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
        # Root spans: a tracer of their own whose ids are set per span (under the lock).
        self._roots = self._trace.get_tracer("wfcore.workflows", tracer_provider=tracer_provider)
        self._ids: _FixedIds | None = None
        if hasattr(self._roots, "id_generator"):  # the SDK's tracer (cached per provider)
            if not isinstance(self._roots.id_generator, _FixedIds):
                self._roots.id_generator = _FixedIds()
            self._ids = self._roots.id_generator
        # Root workflow id -> created_at, seen by its runs here (the span's start time).
        self._created: dict[str, float] = {}

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
        if identity.workflow_id == root:
            if len(self._created) >= _REMEMBERED:
                self._created.clear()  # crude bound; a miss only shortens a root span
            self._created[root] = ctx._workflow_record.created_at
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

    def workflow_ended(self, workflow: WorkflowIdentity, status: WorkflowStatus) -> None:
        """A root workflow ended: emit the trace's root span (see the module's docstring)."""
        root = workflow.root_workflow_id
        ids = self._ids
        if workflow.workflow_id != root or ids is None:
            return
        try:
            self._emit_root(ids, workflow, status)
        except Exception:  # a hook must not fail the run that ended the workflow
            _log.exception("wfcore tracing: the root span of %s was not emitted", root)

    def _emit_root(
        self, ids: _FixedIds, workflow: WorkflowIdentity, status: WorkflowStatus
    ) -> None:
        root = workflow.root_workflow_id
        end = time.time()
        start = self._created.pop(root, end)
        attributes = {
            "wfcore.workflow_id": root,
            "wfcore.workflow_type": workflow.workflow_type,
            "wfcore.status": status.value,
        }
        with ids.lock:  # start_span reads them, under the same lock
            ids.trace_id, ids.span_id = trace_id_for(root), root_span_id_for(root)
            span = self._roots.start_span(
                f"workflow {workflow.workflow_type}",
                context=self._context.Context(),  # a root: never under the current run's span
                kind=self._trace.SpanKind.INTERNAL,
                attributes=attributes,
                start_time=int(start * 1e9),
            )
        if status.value == "FAILED":
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, "workflow failed"))
        span.end(end_time=int(end * 1e9))

    def _span_context(self, trace_id: int, span_id: int) -> Any:
        trace = self._trace
        return trace.SpanContext(trace_id, span_id, is_remote=True, trace_flags=trace.TraceFlags(1))


class _FixedIds:
    """An OpenTelemetry SDK id generator that gives the ids it was last set to (set them
    and start the span under ``lock``)."""

    def __init__(self) -> None:
        self.trace_id = 1
        self.span_id = 1
        self.lock = threading.Lock()

    def generate_trace_id(self) -> int:
        return self.trace_id

    def generate_span_id(self) -> int:
        return self.span_id

    def is_trace_id_random(self) -> bool:
        return False  # derived from the root workflow's id


def _parse(value: object) -> tuple[int, int] | None:
    if not isinstance(value, str):
        return None
    match = _TRACEPARENT.fullmatch(value)
    if match is None:
        return None
    return int(match[1], 16), int(match[2], 16)
