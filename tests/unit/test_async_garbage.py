"""An async body's runs are freed by reference counting: no garbage cycle per run.

A run left for the garbage collector holds its context, history, records and frames until
the next collection: more memory, and collections that cost the worker CPU on every
workflow. These tests run async bodies with the collector off and count what it finds.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from wfcore import LocalRunner


@pytest.fixture
def no_collector() -> Iterator[Callable[[], int]]:
    """Collector off; the fixture's function collects and says how many objects were cyclic
    garbage since the last call."""
    gc.collect()
    gc.disable()
    try:
        yield gc.collect
    finally:
        gc.enable()


def _runner() -> tuple[LocalRunner, dict[str, Any]]:
    runner = LocalRunner()

    @runner.task
    def leaf(i: int) -> int:
        return i

    @runner.task(workflow=True)
    async def sequential(n: int) -> int:
        wf = sequential.wf
        a = (await wf.execute_task(leaf, n)).result
        b = await wf.deterministic("double", lambda: a * 2)
        return int((await wf.execute_task(leaf, b)).result)

    @runner.task(workflow=True)
    async def fan_out(n: int) -> list[int]:
        wf = fan_out.wf

        async def branch(i: int) -> int:
            return int((await wf.execute_task(leaf, i)).result)

        tasks = [asyncio.create_task(branch(i)) for i in range(n)]
        gathered = await asyncio.gather(*[wf.execute_task(leaf, 10 + i) for i in range(n)])
        done = [await t for t in tasks]
        return done + [g.result for g in gathered]

    @runner.task(workflow=True)
    async def impatient() -> str:
        try:
            await asyncio.wait_for(impatient.wf.wait_signal("late"), timeout=3600)
        except TimeoutError:
            return "timed out"
        return "signalled"

    return runner, {"sequential": sequential, "fan_out": fan_out, "impatient": impatient}


@pytest.mark.parametrize(
    ("body", "args"), [("sequential", (3,)), ("fan_out", (3,)), ("impatient", ())]
)
def test_suspended_and_finished_runs_leave_no_garbage_cycle(
    no_collector: Callable[[], int], body: str, args: tuple[Any, ...]
) -> None:
    # Given a runner whose first workflow ran (imports and caches are made)
    runner, bodies = _runner()
    runner.start(bodies[body], *args)
    runner.run_until_idle()
    no_collector()
    # When more workflows run, each suspending several times before it finishes
    ids = [runner.start(bodies[body], *args) for _ in range(3)]
    runner.run_until_idle()
    # Then they finished, and the collector found nothing: every run was freed at its end
    assert [runner.engine.result(i) for i in ids] == [runner.engine.result(ids[0])] * 3
    assert no_collector() == 0
