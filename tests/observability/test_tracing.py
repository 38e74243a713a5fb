"""OpenTelemetry spans of an App's runs, exported by the SDK's in-memory exporter."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.integration.harness import start
from tests.observability.support import hide_package
from wfcore.errors import ConfigurationError, WorkflowFailedError
from wfcore.observability.tracing import WorkflowTracing, root_span_id_for, trace_id_for
from wfcore_dramatiq import App
from wfcore_dramatiq.observability import enable_tracing

MakeApp = Callable[..., App]


def _provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _attr(span: ReadableSpan, name: str) -> object:
    assert span.attributes is not None
    return span.attributes[name]


def test_a_workflow_tree_is_one_trace_with_runs_parented_by_their_senders(
    make_app: MakeApp,
) -> None:
    # Given an App traced into an in-memory exporter
    app = make_app()
    provider, exporter = _provider()
    enable_tracing(app, tracer_provider=provider)

    @app.task
    def leaf(n: int) -> int:
        return n

    @app.task(force_new_workflow=True)
    def sub(n: int) -> int:
        return int(sub.wf.execute_task(leaf, n).result) + 1

    @app.task
    def root() -> int:
        wf = root.wf
        handles = [wf.start_task(leaf, 1), wf.start_task(leaf, 2), wf.start_task(sub, 10)]
        return sum(r.result for r in wf.wait(*handles))

    # When a parent with two children and a child workflow (with a child of its own) runs
    handle = start(root)
    assert handle.result(timeout=30) == 14
    spans = [s for s in exporter.get_finished_spans() if s.name.startswith("run ")]
    # Then every run of the tree is a span of the one trace derived from the root's id
    trace_id = trace_id_for(handle.workflow_id)
    assert {s.context.trace_id for s in spans if s.context is not None} == {trace_id}
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    runs = {task: [s for s in spans if _attr(s, "wfcore.task") == task] for task in
            ("root", "leaf", "sub")}  # fmt: skip
    # the root's first run hangs under the tree's root span id; it started the children
    first = next(s for s in runs["root"] if _attr(s, "wfcore.replaying") is False)
    assert first.parent is not None
    assert first.parent.span_id == root_span_id_for(handle.workflow_id)
    assert _attr(first, "wfcore.status") == "SUSPENDED"
    assert _attr(first, "wfcore.workflow_id") == handle.workflow_id
    started_by_root = [s for s in spans if s.parent and s.parent.span_id == first.context.span_id]
    assert sorted(str(_attr(s, "wfcore.task")) for s in started_by_root if
                  _attr(s, "wfcore.replaying") is False) == ["leaf", "leaf", "sub"]  # fmt: skip
    # the child workflow's first run started its own child
    sub_first = next(s for s in runs["sub"] if _attr(s, "wfcore.replaying") is False)
    assert _attr(sub_first, "wfcore.root_workflow_id") == handle.workflow_id
    assert any(
        s.parent is not None and s.parent.span_id == sub_first.context.span_id for s in runs["leaf"]
    )
    # and each resumed run is marked as a replay and hangs under the run that woke it
    resumed = [s for s in runs["root"] if _attr(s, "wfcore.replaying") is True]
    assert resumed
    assert _attr(resumed[-1], "wfcore.status") == "COMPLETED"
    for span in resumed:
        assert int(str(_attr(span, "wfcore.replayed_entries"))) >= 3
        assert span.parent is not None
        assert by_id[span.parent.span_id] in runs["leaf"] + runs["sub"]
    # And the tree's root span was emitted when it ended: the derived ids, no parent,
    # around every run; so every run's parent was exported (one complete trace)
    everything = exporter.get_finished_spans()
    [root_span] = [s for s in everything if s.parent is None]
    assert root_span.name == "workflow root"
    assert root_span.context is not None
    assert root_span.context.trace_id == trace_id
    assert root_span.context.span_id == root_span_id_for(handle.workflow_id)
    assert _attr(root_span, "wfcore.status") == "COMPLETED"
    assert [s.name for s in everything if s.name.startswith("workflow ")] == ["workflow root"]
    exported = {s.context.span_id for s in everything if s.context is not None}
    assert root_span.start_time is not None
    assert root_span.end_time is not None
    for span in spans:
        assert span.parent is not None
        assert span.parent.span_id in exported, span.name
        assert span.start_time is not None
        assert span.end_time is not None
        assert root_span.start_time <= span.start_time <= span.end_time <= root_span.end_time


def test_a_workflow_started_inside_a_span_links_to_it(make_app: MakeApp) -> None:
    # Given a client span around the start of a workflow
    app = make_app()
    provider, exporter = _provider()
    enable_tracing(app, tracer_provider=provider)

    @app.task
    def hello() -> str:
        return "hi"

    with provider.get_tracer("client").start_as_current_span("request") as request:
        handle = start(hello)
    assert handle.result(timeout=30) == "hi"
    # Then its run is in the workflow's trace, linked to the client's span
    run = next(s for s in exporter.get_finished_spans() if s.name == "run hello")
    assert run.context is not None
    assert run.context.trace_id == trace_id_for(handle.workflow_id)
    assert [link.context.span_id for link in run.links] == [request.get_span_context().span_id]


def test_a_failed_run_records_its_error(make_app: MakeApp) -> None:
    app = make_app()
    provider, exporter = _provider()
    enable_tracing(app, tracer_provider=provider)

    @app.task(max_retries=0)
    def broken() -> None:
        raise ValueError("card declined")

    handle = start(broken)
    with pytest.raises(WorkflowFailedError):
        handle.result(timeout=30)
    run = next(s for s in exporter.get_finished_spans() if s.name == "run broken")
    assert _attr(run, "wfcore.status") == "FAILED"
    assert not run.status.is_ok
    assert [e.name for e in run.events] == ["exception"]


def test_missing_opentelemetry_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    hide_package(monkeypatch, "opentelemetry")
    with pytest.raises(ConfigurationError, match=r"pip install 'wfcore\[otel\]'"):
        WorkflowTracing()


def test_a_failed_tree_ends_its_root_span_in_error(make_app: MakeApp) -> None:
    app = make_app()
    provider, exporter = _provider()
    enable_tracing(app, tracer_provider=provider)

    @app.task(max_retries=0)
    def doomed() -> None:
        raise ValueError("no stock")

    handle = start(doomed)
    with pytest.raises(WorkflowFailedError):
        handle.result(timeout=30)
    [root] = [s for s in exporter.get_finished_spans() if s.parent is None]
    assert root.name == "workflow doomed"
    assert _attr(root, "wfcore.status") == "FAILED"
    assert not root.status.is_ok
