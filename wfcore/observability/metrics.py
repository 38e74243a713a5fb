"""Prometheus metrics of workflows (extra ``wfcore[metrics]``: ``prometheus_client``).

:class:`WorkflowMetrics` is an engine :class:`~wfcore.observability.observer.Observer`
that counts what the engine does; ``engine.observe(WorkflowMetrics())`` (or, with the
Dramatiq plugin, ``wfcore_dramatiq.observability.enable_metrics(app)``) turns it on and
:func:`serve` exposes it. Under prometheus_client's multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR`` set, as Dramatiq's ``Prometheus`` middleware does) the values
go to that directory and whoever serves it shows them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from wfcore._models import WorkflowStatus
from wfcore.errors import NonDeterminismError, WfError
from wfcore.observability._optional import require
from wfcore.observability.observer import Observer, replay_stats

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from wfcore._models import InvocationRef, WorkflowIdentity
    from wfcore.context import WorkflowContext
    from wfcore.engine.run import RunResult
    from wfcore.store import StateStore

__all__ = ["DUE", "FleetGauges", "WorkflowMetrics", "serve"]

_log = logging.getLogger("wfcore.observability")

DUE = "due"
"""The key, in what a message carries for observers, of the time (``time.time()``) from
which the run it asks for may start: the send time, plus the delay of a wake-up."""

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_ENTRIES = (0, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


def _prometheus() -> Any:
    return require("prometheus_client", "metrics")


def _multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class WorkflowMetrics(Observer):
    """The wfcore metrics (see docs/operations.md for the table), registered on
    ``registry`` (default: prometheus_client's global ``REGISTRY``; under multiprocess
    mode, none: the values go to the multiprocess directory). With ``store``, also the
    fleet-wide ``wfcore_workflows{status}`` read from it (:class:`FleetGauges`, refreshed
    every ``fleet_interval`` seconds under multiprocess mode).

    Raises:
        ConfigurationError: prometheus_client is not installed (``wfcore[metrics]``).
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        store: StateStore | None = None,
        fleet_interval: float = 15.0,
    ) -> None:
        prom = _prometheus()
        if registry is None:
            registry = prom.CollectorRegistry() if _multiprocess() else prom.REGISTRY
        # Fleet-wide, read from the store (not counted per process): see FleetGauges.
        self.fleet = None if store is None else FleetGauges(store, registry, fleet_interval)
        by_type, by_task = ["workflow_type"], ["task"]

        def counter(name: str, doc: str, labels: list[str]) -> Any:
            return prom.Counter(name, doc, labels, registry=registry)

        def histogram(name: str, doc: str, buckets: Sequence[float]) -> Any:
            return prom.Histogram(name, doc, by_task, buckets=buckets, registry=registry)

        self.started = counter(
            "wfcore_workflows_started_total", "Workflows whose root began running.", by_type
        )
        self.completed = counter(
            "wfcore_workflows_completed_total", "Workflows that completed.", by_type
        )
        self.failed = counter("wfcore_workflows_failed_total", "Workflows that failed.", by_type)
        self.cancelled = counter(
            "wfcore_workflows_cancelled_total", "Workflows that were cancelled.", by_type
        )
        self.runs = counter(
            "wfcore_invocation_runs_total",
            "Runs of invocations, by how they ended (SUSPENDED: a suspension).",
            ["task", "status"],
        )
        self.running = prom.Gauge(
            "wfcore_invocations_running",
            "Invocations running now (in this process; summed over live processes).",
            by_task,
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.resume_latency = histogram(
            "wfcore_resume_latency_seconds",
            "From a resume being due (sent, or its timer due) to its run starting.",
            _SECONDS,
        )
        self.replay_entries = histogram(
            "wfcore_replay_entries", "Recorded operations a run replayed.", _ENTRIES
        )
        self.replay_duration = histogram(
            "wfcore_replay_duration_seconds",
            "Time a run took to replay its recorded operations (runs that replayed some).",
            _SECONDS,
        )
        self.nondeterminism = counter(
            "wfcore_nondeterminism_errors_total",
            "Runs whose code diverged from the recorded history.",
            by_task,
        )
        self.resends = counter(
            "wfcore_recovery_resends_total",
            "Invocations re-enqueued by recovery sweeps (lost messages or workers).",
            by_task,
        )
        self._ends = {
            "COMPLETED": self.completed,
            "FAILED": self.failed,
            "CANCELLED": self.cancelled,
        }

    def run_started(self, ctx: WorkflowContext, carried: Mapping[str, Any] | None) -> Any:
        task = ctx.task_name
        self.running.labels(task).inc()
        replayed, _ = replay_stats(ctx)
        if replayed == 0 and ctx.attempt == 1 and ctx.invocation_id == _root_of(ctx):
            self.started.labels(ctx.workflow.workflow_type).inc()
        due = None if carried is None else carried.get(DUE)
        if replayed and isinstance(due, int | float):
            self.resume_latency.labels(task).observe(max(0.0, time.time() - due))
        return time.perf_counter()

    def run_ended(self, token: Any, ctx: WorkflowContext, result: RunResult | None) -> None:
        task = ctx.task_name
        self.running.labels(task).dec()
        replayed, caught_up = replay_stats(ctx)
        self.replay_entries.labels(task).observe(replayed)
        if replayed:
            end = caught_up if caught_up is not None else time.perf_counter()
            self.replay_duration.labels(task).observe(max(0.0, end - token))
        if result is None:
            return
        self.runs.labels(task, result.status.value).inc()
        if isinstance(result.error, NonDeterminismError):
            self.nondeterminism.labels(task).inc()

    def workflow_ended(self, workflow: WorkflowIdentity, status: WorkflowStatus) -> None:
        metric = self._ends.get(status.value)
        if metric is not None:
            metric.labels(workflow.workflow_type).inc()

    def recovered(self, refs: Sequence[InvocationRef]) -> None:
        for ref in refs:
            self.resends.labels(ref.task_name).inc()


_IN_FLIGHT = ("PENDING", "RUNNING", "SUSPENDED")


class FleetGauges:
    """``wfcore_workflows{status}``: workflows pending, running and suspended across the
    whole fleet, read from the store (``StateStore.count_workflows``: an index count each).

    Without multiprocess mode the store is read when the registry is scraped. Under it (one
    registry per process, merged by whoever serves the directory), each process refreshes a
    ``mostrecent`` gauge from the store every ``interval`` seconds in a daemon thread, so
    every process reports the same fleet-wide values and the newest wins.
    """

    def __init__(
        self, store: StateStore, registry: CollectorRegistry | None, interval: float = 15.0
    ) -> None:
        prom = _prometheus()
        self._store = store
        self._name = "wfcore_workflows"
        self._doc = "Workflows by status across the fleet, read from the store (in flight only)."
        self._gauge: Any = None
        if _multiprocess():
            self._gauge = prom.Gauge(
                self._name, self._doc, ["status"], multiprocess_mode="mostrecent"
            )
            threading.Thread(
                target=self._refresh_every, args=(interval,), name="wfcore-fleet-gauges",
                daemon=True,
            ).start()  # fmt: skip
        elif registry is not None:
            registry.register(self)

    def counts(self) -> dict[str, int]:
        """The in-flight statuses and how many workflows have each; empty when the store
        cannot say (the reason is logged)."""
        try:
            return {s: self._store.count_workflows(WorkflowStatus(s)) for s in _IN_FLIGHT}
        except WfError as exc:
            _log.warning("wfcore metrics: cannot count workflows in the store: %s", exc)
            return {}

    def collect(self) -> Any:
        """prometheus_client's custom-collector hook: the counts, read now."""
        family = self._family()
        for status, count in self.counts().items():
            family.add_metric([status], count)
        yield family

    def describe(self) -> list[Any]:
        """Registration without a store read (prometheus_client calls it when registering)."""
        return [self._family()]

    def _family(self) -> Any:
        core = require("prometheus_client.core", "metrics")
        return core.GaugeMetricFamily(self._name, self._doc, labels=["status"])

    def _refresh_every(self, interval: float) -> None:
        while True:
            for status, count in self.counts().items():
                self._gauge.labels(status).set(count)
            time.sleep(interval)


def _root_of(ctx: WorkflowContext) -> str:
    return ctx._workflow_record.root_invocation_id


def serve(
    port: int = 0, *, addr: str = "127.0.0.1", registry: CollectorRegistry | None = None
) -> int:
    """Serve ``registry`` (default: the global one; under multiprocess mode, the values of
    every process) over HTTP at ``addr:port`` in a daemon thread; ``port=0`` picks a free
    port. Returns the port.

    Raises:
        ConfigurationError: prometheus_client is not installed (``wfcore[metrics]``).
    """
    prom = _prometheus()
    if registry is None:
        if _multiprocess():
            multiprocess = require("prometheus_client.multiprocess", "metrics")
            registry = prom.CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = prom.REGISTRY
    server, _thread = prom.start_http_server(port, addr=addr, registry=registry)
    return int(server.server_address[1])
