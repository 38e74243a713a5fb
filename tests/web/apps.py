"""Workflows the web view tests show: a fan-out, a sleeper, a failure, a signal waiter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from wfcore import Codec, LocalRunner, StateStore, Task, WorkflowStatus
from wfcore.errors import FatalError


class Parcel(BaseModel):
    """A model registered on the runner's codec but unknown to a web view without --app."""

    sku: str
    weight: float


@dataclass
class Demo:
    """A runner on ``store`` and the ids of the workflows it made."""

    runner: LocalRunner
    fanout: str
    sleeper: str
    failed: str
    waiter: str
    parcel: str


def build(store: StateStore, children: int = 50) -> Demo:
    """Run one workflow of each kind on ``store``: ``fanout`` with ``children`` child
    workflows (completed), ``sleeper`` suspended in a day-long sleep, ``failed``, ``waiter``
    suspended on signal ``approve``, ``parcel`` with a model argument, result and data."""
    runner = LocalRunner(store, codec=Codec(types=[Parcel]))

    @runner.task(name="web.leaf", force_new_workflow=True)
    def leaf(n: int) -> int:
        return n * n

    @runner.task(name="web.fanout")
    def fanout(count: int) -> int:
        wf = fanout.wf
        wf.set_data("progress", {"children": count})
        handles = [wf.start_task(leaf, n) for n in range(count)]
        return sum(int(result.result) for result in wf.wait(*handles))

    @runner.task(name="web.sleeper")
    def sleeper() -> str:
        sleeper.wf.sleep(86_400)
        return "woke"

    @runner.task(name="web.broken")
    def broken(order: str) -> None:
        broken.wf.random()
        raise FatalError(f"order {order} cannot be shipped")

    @runner.task(name="web.waiter")
    def waiter() -> object:
        return waiter.wf.wait_signal("approve")

    @runner.task(name="web.parcel")
    def parcel(item: Parcel) -> Parcel:
        parcel.wf.set_data("label", item)
        return Parcel(sku=item.sku, weight=item.weight * 2)

    def start(task: Task[..., Any], *args: object, key: str | None = None) -> str:
        record, _ = runner.engine.start(task.spec, args, idempotency_key=key)
        return record.workflow_id

    demo = Demo(
        runner=runner,
        fanout=start(fanout, children, key="fanout-order-17"),
        sleeper="",
        failed=start(broken, "A-1"),
        waiter="",
        parcel=start(parcel, Parcel(sku="blue-mug", weight=0.4)),
    )
    runner.run_until_idle()
    demo.sleeper = start(sleeper)
    demo.waiter = start(waiter)
    settle(runner)
    return demo


def settle(runner: LocalRunner) -> None:
    """Run queued messages only: due timers (the day-long sleep) are left alone."""
    while runner._queue:
        runner.step()


def status(store: StateStore, workflow_id: str) -> WorkflowStatus:
    record = store.get_workflow(workflow_id)
    assert record is not None
    return record.status
