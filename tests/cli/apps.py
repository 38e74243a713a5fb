"""Apps the CLI tests load by MODULE:ATTRIBUTE, as users' CI would."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from wfcore import Codec, LocalRunner, StateStore, Task
from wfcore_dramatiq import App

VERSION = {"v": 1}


def build_runner(store: StateStore | None = None) -> tuple[LocalRunner, Task[[int], int]]:
    """A runner with the CLI test tasks, on ``store`` (memory by default)."""
    runner = LocalRunner(store)

    @runner.task(name="cli.double")
    def double(x: int) -> int:
        return 2 * x

    @runner.task(name="cli.flow")
    def flow(x: int) -> int:
        wf = flow.wf
        wf.random()
        if VERSION["v"] == 2:
            wf.uuid()
        return int(wf.execute_task(double, x).result)

    @runner.task(name="cli.async_flow", workflow=True)
    async def async_flow(x: int) -> int:
        wf = async_flow.wf
        wf.random()
        if VERSION["v"] == 2:
            wf.uuid()
        doubled = await asyncio.gather(*[wf.execute_task(double, x + i) for i in range(2)])
        return sum(int(d.result) for d in doubled)

    return runner, flow


runner, _ = build_runner()
app = App(store="memory://", worker_threads=2)


@app.task
def triple(x: int) -> int:
    return 3 * x


class Order(BaseModel):
    """A model the CLI knows only through ``--app tests.cli.apps:model_runner``."""

    sku: str
    quantity: int


class Receipt(BaseModel):
    order: Order
    total: float


def build_model_runner(
    store: StateStore | None = None,
) -> tuple[LocalRunner, Task[[Order], Receipt]]:
    """A runner whose workflow takes and returns pydantic models, registered on its codec."""
    runner = LocalRunner(store, codec=Codec(types=[Order, Receipt]))

    @runner.task(name="cli.checkout")
    def checkout(order: Order) -> Receipt:
        checkout.wf.random()
        return Receipt(order=order, total=2.5 * order.quantity)

    return runner, checkout


model_runner, model_checkout = build_model_runner()


REPAIR_BUG = {"on": True}
"""The bug a repair test ships (True) and fixes (False) in ``cli.repair_flow``."""


def build_repair_runner(store: StateStore | None = None) -> tuple[LocalRunner, Task[[int], int]]:
    """A runner whose workflow's second child fails while ``REPAIR_BUG`` is on."""
    runner = LocalRunner(store)

    @runner.task(name="cli.repair_step")
    def step(n: int) -> int:
        if n == 2 and REPAIR_BUG["on"]:
            raise ValueError("shipped bug")
        return n

    @runner.task(name="cli.repair_flow")
    def repair_flow(x: int) -> int:
        wf = repair_flow.wf
        return x + int(wf.execute_task(step, 1).result) + int(wf.execute_task(step, 2).result)

    return runner, repair_flow


repair_runner, _ = build_repair_runner()
