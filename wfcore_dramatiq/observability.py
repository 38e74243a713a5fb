"""Metrics and tracing for an :class:`~wfcore_dramatiq.App`: ``enable_metrics(app)``,
``enable_tracing(app)``. See docs/operations.md."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import dramatiq
from dramatiq.middleware import Middleware

from wfcore.observability._optional import installed
from wfcore.observability.metrics import DUE, WorkflowMetrics, serve
from wfcore.observability.tracing import WorkflowTracing
from wfcore_dramatiq._app import App

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["enable_metrics", "enable_tracing"]

_NOT_BEFORE = "not_before"


def enable_metrics(
    app: App,
    *,
    registry: CollectorRegistry | None = None,
    port: int | None = None,
    addr: str = "127.0.0.1",
    fleet_interval: float = 15.0,
) -> int | None:
    """Count ``app``'s workflows in Prometheus metrics (extra ``wfcore[metrics]``).

    With Dramatiq's ``Prometheus`` middleware on the broker, the metrics are made in each
    worker process when it boots, in the middleware's multiprocess directory, and its
    exposition server (``dramatiq_prom_host``:``dramatiq_prom_port``, 9191 by default)
    shows them with Dramatiq's own; ``registry`` and ``port`` are then ignored. Otherwise
    they are registered on ``registry`` (default: the global one) and, if ``port`` is
    given, served at ``addr:port`` (0: a free port). Call it once per App, in every process
    that runs or sends workflows (e.g. in the module declaring them).

    ``wfcore_workflows{status}`` (pending, running, suspended across the fleet) is read from
    the App's store: at each scrape, or under the middleware every ``fleet_interval``
    seconds in each worker process.

    Returns:
        The port the metrics are served on, or None when this call serves none.

    Raises:
        ConfigurationError: prometheus_client is not installed.
    """
    app.middleware.stamps.append(_stamp_due)
    prometheus = _prometheus_middleware(app.broker)
    if prometheus is not None:
        installed("prometheus_client", "metrics")  # imported after process boot
        app.broker.add_middleware(_MetricsAtBoot(app, fleet_interval), before=prometheus)
        return None
    app.engine.observe(WorkflowMetrics(registry, store=app.store, fleet_interval=fleet_interval))
    return None if port is None else serve(port, addr=addr, registry=registry)


def enable_tracing(app: App, *, tracer_provider: Any = None) -> WorkflowTracing:
    """One OpenTelemetry span per run of ``app``'s invocations, one trace per workflow
    tree (extra ``wfcore[otel]``), on ``tracer_provider`` (default: the global one).

    Raises:
        ConfigurationError: OpenTelemetry is not installed.
    """
    tracing = WorkflowTracing(tracer_provider)
    app.middleware.stamps.append(tracing.stamp)
    app.engine.observe(tracing)
    return tracing


def _stamp_due(carried: dict[str, Any], delay: int | None) -> None:
    """When the run a message asks for may start: a long wait's final time, else now plus
    the broker delay."""
    not_before = carried.get(_NOT_BEFORE)
    if isinstance(not_before, int | float):
        carried[DUE] = float(not_before)
    else:
        carried[DUE] = time.time() + (delay or 0) / 1000


def _prometheus_middleware(broker: dramatiq.Broker) -> type[Middleware] | None:
    """The class of Dramatiq's Prometheus middleware if ``broker`` has it. Not imported
    here: importing it creates its database directory."""
    for middleware in broker.middleware:
        cls = type(middleware)
        if cls.__module__ == "dramatiq.middleware.prometheus" and cls.__name__ == "Prometheus":
            return cls
    return None


class _MetricsAtBoot(Middleware):
    """Makes the metrics in a worker process after Dramatiq's Prometheus middleware set up
    its multiprocess directory (its ``after_process_boot`` runs first)."""

    def __init__(self, app: App, fleet_interval: float) -> None:
        self._app = app
        self._interval = fleet_interval
        self._done = False

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        if not self._done:
            self._done = True
            metrics = WorkflowMetrics(store=self._app.store, fleet_interval=self._interval)
            self._app.engine.observe(metrics)
