"""Prometheus metrics of an App, scraped from the real HTTP endpoint."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from tests.observability.support import hide_package, sample, scrape
from wfcore import LocalRunner, current, open_store
from wfcore.errors import ConfigurationError, WorkflowFailedError
from wfcore.observability.metrics import WorkflowMetrics, serve
from wfcore_dramatiq import App
from wfcore_dramatiq.observability import enable_metrics

MakeApp = Callable[..., App]


def test_embedded_app_metrics_are_served_on_a_port_of_their_own(make_app: MakeApp) -> None:
    # Given an embedded App with metrics served on a free port
    app = make_app()
    port = enable_metrics(app, registry=CollectorRegistry(), port=0)
    assert port is not None

    @app.task
    def child(n: int) -> int:
        return n * 2

    @app.task
    def parent(n: int) -> int:
        wf = parent.wf
        handles = [wf.start_task(child, i) for i in range(n)]
        wf.sleep(0.2)
        return sum(r.result for r in wf.wait(*handles))

    @app.task(max_retries=0)
    def broken() -> None:
        raise ValueError("no")

    # When workflows complete and fail
    assert app.run(parent, 3) == 6
    assert app.run(parent, 2) == 2
    with pytest.raises(WorkflowFailedError):
        app.run(broken)
    # Then the endpoint shows them by type
    samples = scrape(port)
    assert sample(samples, "wfcore_workflows_started_total", workflow_type="parent") == 2
    assert sample(samples, "wfcore_workflows_completed_total", workflow_type="parent") == 2
    assert sample(samples, "wfcore_workflows_failed_total", workflow_type="broken") == 1
    assert sample(samples, "wfcore_workflows_completed_total", workflow_type="child") == 0
    # and the runs: each child once; each parent suspended (the sleep, the children) and
    # resumed, every resume replaying its recorded operations
    assert sample(samples, "wfcore_invocation_runs_total", task="child", status="COMPLETED") == 5
    suspended = sample(samples, "wfcore_invocation_runs_total", task="parent", status="SUSPENDED")
    assert suspended >= 2
    resumes = sample(samples, "wfcore_resume_latency_seconds_count", task="parent")
    assert resumes == suspended
    # the sleep's resume was due 0.2 s after it was decided: its latency is from then
    assert sample(samples, "wfcore_resume_latency_seconds_sum", task="parent") < 5 * resumes
    assert sample(samples, "wfcore_replay_entries_count", task="parent") == suspended + 2
    assert sample(samples, "wfcore_replay_entries_sum", task="parent") > 0
    assert sample(samples, "wfcore_replay_duration_seconds_count", task="parent") == resumes
    assert sample(samples, "wfcore_invocations_running", task="parent") == 0


def test_nondeterminism_errors_are_counted() -> None:
    # Given an engine with metrics and a workflow whose code changes while it is suspended
    registry = CollectorRegistry()
    runner = LocalRunner()
    metrics = WorkflowMetrics(registry)
    runner.engine.observe(metrics)
    code = {"new": False}

    @runner.task
    def child() -> int:
        return 1

    @runner.task
    def flow() -> None:
        wf = flow.wf
        if code["new"]:
            wf.random()
        wf.execute_task(child)

    runner.start(flow)
    runner.step()
    code["new"] = True
    runner.run_until_idle()
    # Then the divergence is counted
    assert registry.get_sample_value(
        "wfcore_nondeterminism_errors_total", {"task": flow.spec.name}
    ) == pytest.approx(1)
    assert registry.get_sample_value(
        "wfcore_workflows_failed_total", {"workflow_type": flow.spec.name}
    ) == pytest.approx(1)


def test_recovery_resends_are_counted() -> None:
    # Given a workflow whose first message was lost
    registry = CollectorRegistry()
    runner = LocalRunner()
    runner.engine.observe(WorkflowMetrics(registry))

    @runner.task
    def flow() -> int:
        return 1

    runner.start(flow)
    runner._queue.clear()
    # When a sweep finds it idle long enough
    runner.advance(120)
    assert len(runner.engine.recover(stale_after=60)) == 1
    # Then the re-send is counted
    assert registry.get_sample_value(
        "wfcore_recovery_resends_total", {"task": flow.spec.name}
    ) == pytest.approx(1)


def test_missing_prometheus_client_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a Python without prometheus_client
    hide_package(monkeypatch, "prometheus_client")
    # Then asking for metrics says which extra to install
    with pytest.raises(ConfigurationError, match=r"pip install 'wfcore\[metrics\]'"):
        WorkflowMetrics(CollectorRegistry())


def test_fleet_gauges_count_workflows_in_flight_from_the_store(tmp_path: Path) -> None:
    # Given workflows suspended by one process (runner), on a store file another process
    # serves metrics from
    url = f"sqlite:///{tmp_path / 'fleet.sqlite3'}"
    runner = LocalRunner(open_store(url))

    @runner.task(name="fleet.waits")
    def waits() -> object:
        return current().wait_signal("go")

    ids = [runner.start(waits) for _ in range(3)]
    pending = runner.start(waits)  # never run: PENDING
    for _ in ids:
        runner.step()
    registry = CollectorRegistry()
    observer_store = open_store(url)
    WorkflowMetrics(registry, store=observer_store)
    port = serve(0, registry=registry)
    # When the metrics are scraped
    samples = scrape(port)
    # Then they count the fleet's workflows by status, read from the store
    assert sample(samples, "wfcore_workflows", status="SUSPENDED") == 3
    assert sample(samples, "wfcore_workflows", status="PENDING") == 1
    assert sample(samples, "wfcore_workflows", status="RUNNING") == 0
    # And each scrape reads them again (the signal to the pending one is buffered)
    for workflow_id in [*ids, pending]:
        runner.engine.signal(workflow_id, "go", 1)
    runner.run_until_idle()
    samples = scrape(port)
    assert sample(samples, "wfcore_workflows", status="SUSPENDED") == 0
    assert sample(samples, "wfcore_workflows", status="PENDING") == 0
    assert [runner.engine.result(i) for i in [*ids, pending]] == [1, 1, 1, 1]
    runner.store.close()
    observer_store.close()
