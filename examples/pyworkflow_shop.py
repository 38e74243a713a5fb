# examples/pyworkflow_shop.py
import asyncio
from typing import Any

import wfcore
from wfcore import FatalError, RetryableError
from wfcore.pyworkflow import EventType, events
from wfcore_dramatiq import App

app = App()  # embedded: StubBroker + in-process worker threads + SQLite (or $WFCORE_STORE_URL)
attempts: dict[str, int] = {}  # the fake gateway's memory: one timeout per order


@app.step(max_retries=3, retry_delay="exponential")
async def charge(order_id: str, amount: float) -> str:
    # A step runs on a real event loop, on any worker: real I/O belongs here.
    if amount > 1000:
        raise FatalError("Insufficient funds")  # never retried: the run fails
    attempts[order_id] = attempts.get(order_id, 0) + 1
    if attempts[order_id] == 1:
        raise RetryableError("Gateway timeout", retry_after="1s")  # retried in 1 s
    return f"TX-{order_id}"


@app.step()
async def reserve_stock(order_id: str) -> str:
    return f"stock for {order_id}"


@app.step()
async def book_courier(order_id: str) -> str:
    return f"courier for {order_id}"


@app.workflow(name="process_order", max_duration="1h")
async def process_order(order_id: str, amount: float) -> dict[str, Any]:
    payment = await charge(order_id, amount)  # a recorded child, with its retries
    # Two steps at once: both are started before the workflow waits.
    stock, courier = await asyncio.gather(reserve_stock(order_id), book_courier(order_id))
    await wfcore.sleep("1s")  # a durable timer: no worker is held while it runs
    return {"payment": payment, "stock": stock, "courier": courier}


if __name__ == "__main__":
    run_id = app.start(process_order, "ORD-1", 99.0, idempotency_key="order-ORD-1")
    assert app.start(process_order, "ORD-1", 99.0, idempotency_key="order-ORD-1") == run_id
    handle = app.handle(run_id)
    print(handle.result(timeout=30))
    # {'payment': 'TX-ORD-1', 'stock': 'stock for ORD-1', 'courier': 'courier for ORD-1'}
    kinds = [e.type for e in events(handle.history())]  # PyWorkflow's event types
    print(kinds.count(EventType.STEP_RETRYING), kinds.count(EventType.SLEEP_COMPLETED))  # 1 1
    print(app.verify_replay(run_id).ok)  # True: the run replays to the same result

    failed = app.handle(app.start(process_order, "ORD-2", 5000.0))
    try:
        failed.result(timeout=30)
    except wfcore.WorkflowFailedError as exc:
        print("failed as expected:", exc)
    app.close()
