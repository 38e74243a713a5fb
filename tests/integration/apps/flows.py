"""The py_workflow seed's README examples (and a crash probe) as ``wfcore.flow`` workflows.

Built by ``SeedFlows(app)`` for the test process and, with the same App, for real
``dramatiq`` worker processes (``tests.integration.apps.flow_worker``); with ``app=None``
they run in-process. The functions are the seed README's, word for word, except the retry
example's decision, which reads ``result.payload`` where the seed names an undefined
``payload`` (a NameError in the original).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from dramatiq.brokers.redis import RedisBroker

from tests.integration.apps.ledger import Ledger
from wfcore.flow import BaseStepLogger, Enqueue, Result, Step, StepLogHelper, Workflow
from wfcore_dramatiq import App

__all__ = ["CrashFlow", "SeedFlows", "build_flow_app"]

Ctx = dict[str, Any]


# -- Quick Start -----------------------------------------------------------------------------


def load(ctx: Ctx, payload: Any, log: StepLogHelper) -> list[str]:
    log.event("start", payload=payload)
    return ["priority", "normal"]


def quick_decide(ctx: Ctx, result: Result, enqueue: Enqueue, log: StepLogHelper) -> None:
    log.event("fanout", count=len(result.value))
    for item in result.value:
        enqueue.tail("process", item)


# -- Recipe: logging with helper events --------------------------------------------------------


def fetch(ctx: Ctx, payload: Any, log: StepLogHelper) -> dict[str, list[int]]:
    log.event("start", payload=payload)
    return {"items": [1, 2]}


def fetch_decide(ctx: Ctx, result: Result, enqueue: Enqueue, log: StepLogHelper) -> None:
    log.event("enqueue", size=len(result.value["items"]))
    for item in result.value["items"]:
        enqueue.tail("process", item)


def process(ctx: Ctx, payload: Any, log: StepLogHelper) -> Any:
    log.event("processing", item=payload)
    return payload * 10


# -- Recipe: retry step ----------------------------------------------------------------------


def attempt(ctx: Ctx, payload: Any, log: StepLogHelper) -> dict[str, Any]:
    attempt_no = payload["attempt"]
    log.event("attempt", number=attempt_no)
    if attempt_no == 1:
        raise RuntimeError("transient")
    return {"status": "ok", "attempt": attempt_no}


def retry_decide(ctx: Ctx, result: Result, enqueue: Enqueue, log: StepLogHelper) -> None:
    if not result:
        next_attempt = result.payload["attempt"] + 1  # the seed: payload["attempt"] + 1
        enqueue.head("attempt", {"attempt": next_attempt})
        log.event("retry", next_attempt=next_attempt)
    else:
        enqueue.tail("finalize", result.value)


def finalize(ctx: Ctx, payload: Any, log: StepLogHelper) -> None:
    log.event("final", payload=payload)
    ctx["final"] = payload


# -- Recipe: fan-out then merge (the seed's test_workflow_with_retry_and_merge) ----------------


def split(ctx: Ctx, payload: Any) -> list[dict[str, Any]]:
    ctx["expected"] = len(payload["orders"])
    ctx["done"] = {}
    return [{"id": order, "attempt": 1} for order in payload["orders"]]


def split_decide(ctx: Ctx, result: Result, enqueue: Enqueue) -> None:
    for item in result.value:
        # urgent work first: "U-" orders go to the head of the queue
        if item["id"].startswith("U-"):
            enqueue.head("work", item)
        else:
            enqueue.tail("work", item)


def work(ctx: Ctx, payload: Any, log: StepLogHelper) -> str:
    if payload["id"].endswith("-flaky") and payload["attempt"] == 1:
        raise ConnectionError(f"{payload['id']} timed out")
    log.event("worked", order=payload["id"], attempt=payload["attempt"])
    return f"{payload['id']}:done"


def work_decide(ctx: Ctx, result: Result, enqueue: Enqueue, log: StepLogHelper) -> None:
    if not result:
        retry = {**result.payload, "attempt": result.payload["attempt"] + 1}
        log.event("retry", order=retry["id"], attempt=retry["attempt"])
        enqueue.tail("work", retry)
        return
    ctx["done"][result.payload["id"]] = result.value
    if len(ctx["done"]) == ctx["expected"]:
        enqueue.tail("merge", sorted(ctx["done"].values()))


def merge(ctx: Ctx, payload: Any) -> dict[str, Any]:
    ctx["merged"] = payload
    return {"count": len(payload)}


# -- Recipe: custom logger -------------------------------------------------------------------


class JSONLogger(BaseStepLogger):
    """The seed's ``JSONLogger``, with the fields its ``{...}`` elides filled in."""

    def __init__(self, sink: Any) -> None:
        self._sink = sink

    def log(self, step_name: str, payload: Any, result: Result) -> None:
        line = {"step": step_name, "payload": payload, "ok": result.ok, "result": result.value}
        self._sink.write(json.dumps(line) + "\n")

    def event(self, step_name: str, name: str, /, **data: Any) -> None:
        self._sink.write(json.dumps({"step": step_name, "event": name, **data}) + "\n")


class SeedFlows:
    """Every seed README example, built in-process (``app=None``) or durable on ``app``."""

    def __init__(self, app: App | None) -> None:
        self.quickstart = Workflow(app=app, name="quickstart").add(
            Step(name="load", action=load, decision=quick_decide),
            Step(name="process", action=lambda ctx, payload: payload.upper()),
        )
        self.helper_events = Workflow(app=app, name="helper_events").add(
            Step(name="fetch", action=fetch, decision=fetch_decide),
            Step(name="process", action=process),
        )
        self.retry = Workflow(app=app, name="retry").add(
            Step(name="attempt", action=attempt, decision=retry_decide),
            Step(name="finalize", action=finalize),
        )
        self.fan_out = Workflow(app=app, name="fan_out").add(
            Step(name="split", action=split, decision=split_decide),
            Step(name="work", action=work, decision=work_decide),
            Step(name="merge", action=merge),
        )


# -- a crash probe: four steps, the third blocks until released ------------------------------


class CrashFlow:
    """``one -> two -> three -> four``; each action journals its runs in the ledger, and
    ``three`` journals its start, then waits for the ledger marker ``release-<token>``."""

    def __init__(self, app: App | None, ledger: Ledger) -> None:
        def act(ctx: Ctx, payload: Any) -> Any:
            step, token = payload["step"], payload["token"]
            ledger.append(f"started-{token}", step)
            if step == "three":
                deadline = time.monotonic() + 30
                while not ledger.exists(f"release-{token}") and time.monotonic() < deadline:
                    time.sleep(0.02)
            ledger.append(f"finished-{token}", step)
            ctx.setdefault("seen", []).append(step)
            return step.upper()

        order = ["one", "two", "three", "four"]

        def route(ctx: Ctx, result: Result, enqueue: Enqueue) -> None:
            here = order.index(result.payload["step"])
            if here + 1 < len(order):
                enqueue.tail(order[here + 1], {**result.payload, "step": order[here + 1]})

        self.workflow = Workflow(app=app, name="crash").add(
            *(Step(name, act, decision=route) for name in order)
        )


def build_flow_app(env: Mapping[str, str]) -> tuple[App, SeedFlows, CrashFlow]:
    """The App of the flow tests' real workers, as the test process builds it too.

    The RedisBroker redelivers a dead worker's messages after 2 s and sweeps run every
    0.5 s for invocations idle 1 s, so a SIGKILLed worker's run resumes within seconds.
    """
    broker = RedisBroker(  # type: ignore[no-untyped-call]
        url=env["WFCORE_IT_BROKER_URL"],
        namespace=env["WFCORE_IT_NAMESPACE"],
        heartbeat_timeout=2000,
        maintenance_chance=1_000_000,
    )
    app = App(
        broker=broker,
        store=env["WFCORE_IT_STORE_URL"],
        recovery_interval=0.5,
        stale_after=1.0,
    )
    return app, SeedFlows(app), CrashFlow(app, Ledger(env["WFCORE_IT_LEDGER"]))
