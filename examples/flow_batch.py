# examples/flow_batch.py
import sys
from typing import Any

from wfcore.flow import Enqueue, Result, Step, StepLogHelper, Workflow
from wfcore_dramatiq import App

app = App()  # embedded: StubBroker + in-process worker threads + SQLite (or $WFCORE_STORE_URL)
Ctx = dict[str, Any]


def load(ctx: Ctx, payload: dict[str, Any], log: StepLogHelper) -> list[dict[str, Any]]:
    log.event("start", batch=payload["batch"])
    ctx["done"] = []
    return [{"item": item, "attempt": 1} for item in payload["items"]]


def fan_out(ctx: Ctx, result: Result, enqueue: Enqueue, log: StepLogHelper) -> None:
    log.event("fanout", count=len(result.value))
    for job in result.value:
        enqueue.tail("process", job)


def process(ctx: Ctx, payload: dict[str, Any]) -> str:
    if payload["item"] == "flaky" and payload["attempt"] == 1:
        raise ConnectionError("timed out")  # a failed Result: the decision retries it
    return str(payload["item"]).upper()


def collect(ctx: Ctx, result: Result, enqueue: Enqueue) -> None:
    if not result:
        enqueue.head("process", {**result.payload, "attempt": result.payload["attempt"] + 1})
        return
    ctx["done"].append(result.value)


# Workflow(app=app): each run is one durable wfcore workflow; each action a recorded child
workflow = Workflow(app=app, name="batch").add(
    Step(name="load", action=load, decision=fan_out),
    Step(name="process", action=process, decision=collect),
)

if __name__ == "__main__":
    context, trace = workflow.run(
        start="load",
        payload={"batch": "B-1", "items": ["a", "flaky", "c"]},
        logger_sink=sys.stdout,  # the run's lines, with the times they happened
    )
    assert context["done"] == ["A", "FLAKY", "C"]
    assert [entry.step for entry in trace] == ["load", "process", "process", "process", "process"]
    print(context)
    app.close()
