"""B8's workflows, declared on any App: N sequential steps in three styles.

- ``b8_chain(n)``: a plain wfcore task doing ``n`` sequential ``wf.execute_task(b8_child)``
  (the baseline every style is compared with);
- a ``wfcore.steps.Workflow`` of ``n`` no-op ``async def`` steps (``steps_workflow``);
- the ``wfcore.flow`` workflow ``b8`` (``flow``): one step ``hop`` whose decision routes the
  next ``hop`` to the queue's tail until ``n`` have run, on the App's ``DurableExecutor``;
- the PyWorkflow-style ``@app.workflow`` ``b8_pyworkflow(n)`` (``pyworkflow``): ``n``
  sequential ``await b8_step(i)`` of an ``@app.step`` (no retries).

``benchmarks._bench_app`` declares them on its Redis App (so the `dramatiq` workers know them)
and ``b8_styles.py`` on an embedded App. Step functions are module level: workers find them
by qualified name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wfcore import current
from wfcore.flow import Enqueue, Result, Step
from wfcore.flow import Workflow as FlowWorkflow
from wfcore.pyworkflow import WorkflowFunction
from wfcore.steps import Workflow as StepsWorkflow

if TYPE_CHECKING:
    from wfcore_dramatiq import App, DramatiqTask

__all__ = ["Styles", "declare", "flow_payload"]


def b8_child(i: int) -> int:
    """The baseline's child: one message to run it, then its outcome wakes the parent."""
    return i


async def b8_noop(ctx: dict[str, Any]) -> None:
    """A no-op step in the seed's style (``async def step(ctx)``)."""


def b8_hop(ctx: dict[str, Any], payload: dict[str, int]) -> int:
    """The flow step's action: returns its position."""
    return payload["i"]


def b8_next(ctx: dict[str, Any], result: Result, enqueue: Enqueue) -> None:
    """Route the next hop to the tail of the queue until ``n`` hops have run."""
    payload = result.payload
    if payload["i"] + 1 < payload["n"]:
        enqueue.tail("hop", {"i": payload["i"] + 1, "n": payload["n"]})


def flow_payload(n: int) -> dict[str, int]:
    """The first hop's payload of an ``n``-step flow run."""
    return {"i": 0, "n": n}


@dataclass(frozen=True, slots=True)
class Styles:
    """The three workflows of one App."""

    app: App
    chain: DramatiqTask[[int], int]
    flow: FlowWorkflow
    pyworkflow: WorkflowFunction[[int], int]

    def steps_workflow(self, n: int) -> StepsWorkflow:
        """A fresh ``wfcore.steps.Workflow`` with ``n`` no-op steps ``s0`` ... on the App."""
        workflow = StepsWorkflow(ctx={}, app=self.app, name="b8")
        for i in range(n):
            workflow.add_step(b8_noop, name=f"s{i}")
        return workflow


def declare(app: App) -> Styles:
    """Declare B8's tasks and workflows on ``app``."""
    child = app.task(actor_name="b8_child")(b8_child)

    def b8_chain(n: int) -> int:
        wf = current()
        total = 0
        for i in range(n):
            total += wf.execute_task(child, i).result
        return total

    chain = app.task(actor_name="b8_chain")(b8_chain)
    StepsWorkflow(app=app).add_step(b8_noop)  # registers the step's task on the App now
    flow = FlowWorkflow(app=app, name="b8").add(Step(name="hop", action=b8_hop, decision=b8_next))

    @app.step(max_retries=0)
    async def b8_step(i: int) -> int:
        return i

    @app.workflow(name="b8_pyworkflow")
    async def b8_pyworkflow(n: int) -> int:
        total = 0
        for i in range(n):
            total += await b8_step(i)
        return total

    return Styles(app, chain, flow, b8_pyworkflow)
