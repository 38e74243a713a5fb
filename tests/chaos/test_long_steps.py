"""Real worker processes and a step longer than ``stale_after``: heartbeats keep the sweeps
(every worker's, every 0.5 s, ``stale_after`` 1 s) off it while its worker lives, and a
SIGKILLed worker's step is still recovered once its heartbeats stop."""

from __future__ import annotations

import pytest

from tests.chaos.harness import ChaosDeployment, wait_for
from wfcore import WorkflowStatus

pytestmark = pytest.mark.redis


@pytest.mark.timeout(90)
def test_a_step_longer_than_stale_after_runs_once_with_sweeping_workers(
    chaos_stores: ChaosDeployment,
) -> None:
    chaos = chaos_stores
    # Given two workers, each sweeping every 0.5 s for invocations idle 1 s, with a thread
    # for every workflow (a message waiting in a busy worker's prefetch longer than
    # stale_after is not running, so not marked alive: a sweep re-sends it)
    for name in ("w1", "w2"):
        chaos.worker(name, threads=4).start()
    # When workflows run a 3.5 s wf.deterministic step
    handles = [chaos.tasks.long_step.send_with_options(args=(f"t{i}", 3.5)) for i in range(3)]
    results = [h.result(timeout=60) for h in handles]
    # Then each step body ran exactly once: no sweep took a live run for a lost one
    assert results == [f"charged t{i}" for i in range(3)]
    assert chaos.book.counts("long-step-runs") == {f"t{i}": 1 for i in range(3)}


@pytest.mark.timeout(90)
def test_a_step_of_a_killed_worker_is_recovered(chaos_stores: ChaosDeployment) -> None:
    chaos = chaos_stores
    # Given a worker in the middle of a 3 s step
    first = chaos.worker("w1", threads=2).start()
    handle = chaos.tasks.long_step.send_with_options(args=("k", 3.0))
    wait_for(
        lambda: chaos.book.counts("long-step-runs").get("k") == 1,
        timeout=30,
        what="the step to start",
    )
    # When that worker is SIGKILLed (its heartbeats stop) and another one starts
    first.kill()
    chaos.worker("w2", threads=2).start()
    # Then the silent run is sent again (by a sweep, and by Dramatiq's redelivery of the
    # unacked message: both may run the step) and the workflow completes
    assert handle.result(timeout=60) == "charged k"
    assert handle.status() is WorkflowStatus.COMPLETED
    assert chaos.book.counts("long-step-runs")["k"] >= 2
