"""wfcore's metrics on Dramatiq's own Prometheus exposition, from a real ``dramatiq`` worker."""

from __future__ import annotations

import socket
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.harness import (
    WorkerProcess,
    delete_redis_keys,
    redis_url_of,
    start,
    with_query,
)
from tests.observability.prom_app import build
from tests.observability.support import sample, scrape
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.usefixtures("no_global_broker")
def test_worker_metrics_appear_on_dramatiq_prometheus_endpoint(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    # Given a dramatiq worker whose broker has Dramatiq's Prometheus middleware, serving on
    # a free local port, and wfcore's metrics enabled in it
    url = redis_url_of(redis_server)
    run = uuid.uuid4().hex[:12]
    namespace, prefix = f"wfcore-obs-{run}", f"wfcore-obs-store-{run}"
    port = _free_port()
    env = {
        "WFCORE_OBS_BROKER_URL": url,
        "WFCORE_OBS_NAMESPACE": namespace,
        "WFCORE_OBS_STORE_URL": with_query(url, prefix=prefix),
    }
    worker_env = {
        **env,
        "WFCORE_OBS_WORKER": "1",
        "dramatiq_prom_db": str(tmp_path / "prom"),
        "dramatiq_prom_host": "127.0.0.1",
        "dramatiq_prom_port": str(port),
    }
    app, tasks = build(env)
    worker = WorkerProcess(
        worker_env, tmp_path / "worker.log", target="tests.observability.prom_app:broker"
    )
    try:
        worker.start()
        # When workflows run there
        handles = [start(tasks.parent, 3), start(tasks.parent, 2)]
        assert [h.result(timeout=30) for h in handles] == [6, 3]
        # Then Dramatiq's endpoint shows wfcore's metrics next to its own
        samples = _scrape_until(port, "wfcore_workflows_completed_total")
        assert sample(samples, "wfcore_workflows_started_total", workflow_type="obs_parent") == 2
        assert sample(samples, "wfcore_workflows_completed_total", workflow_type="obs_parent") == 2
        assert (
            sample(samples, "wfcore_invocation_runs_total", task="obs_child", status="COMPLETED")
            == 5
        )
        assert sample(samples, "wfcore_resume_latency_seconds_count", task="obs_parent") >= 2
        assert any(name == "dramatiq_messages_total" for name, _ in samples)
        # And the fleet-wide gauges, read from the store by the worker, count workflows
        # suspended anywhere: two waiting for a signal, started from this process
        waiting = [start(tasks.waits), start(tasks.waits)]
        samples = _scrape_until(port, "wfcore_workflows", status="SUSPENDED", value=2)
        assert sample(samples, "wfcore_workflows", status="RUNNING") == 0
        for handle in waiting:
            handle.signal("go", "now")
        assert [h.result(timeout=30) for h in waiting] == ["now", "now"]
        _scrape_until(port, "wfcore_workflows", status="SUSPENDED", value=0)
    finally:
        worker.stop()
        app.close()
        app.broker.close()
        delete_redis_keys(url, namespace, prefix)


def _scrape_until(
    port: int, name: str, value: float | None = None, **labels: str
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Scrape until the exposition server is up and shows ``name`` (it starts in a fork),
    with ``value`` for ``labels`` if given."""
    deadline = time.monotonic() + 20
    while True:
        try:
            samples = scrape(port)
            if any(n == name for n, _ in samples) and (
                value is None or sample(samples, name, **labels) == value
            ):
                return samples
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} never appeared on 127.0.0.1:{port}")
        time.sleep(0.2)
