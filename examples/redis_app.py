# examples/redis_app.py
import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from wfcore_dramatiq import App

redis_url = os.environ.get("WFCORE_EXAMPLE_REDIS_URL", "redis://localhost:6379/0")
# Workers and clients must use the same namespace: a fixed one (set it to isolate a deployment).
namespace = os.environ.get("WFCORE_EXAMPLE_NAMESPACE", "wfcore-example")

# The App makes this broker Dramatiq's global one: workers run `dramatiq examples.redis_app`
# (or `dramatiq examples.redis_app:broker`).
broker = RedisBroker(url=redis_url, namespace=namespace)  # type: ignore[no-untyped-call]
app = App(broker=broker, store=f"{redis_url}?prefix={namespace}")


@app.task(max_retries=5, min_backoff=100, time_limit=60_000)  # Dramatiq options pass through
def charge(order_id: str) -> str:
    return f"PAY-{order_id}-{charge.wf.uuid()[:8]}"


@app.task(force_new_workflow=True)
def process_order(order_id: str) -> dict[str, str]:
    payment = process_order.wf.execute_task(charge, order_id)
    return {"order_id": order_id, "payment": payment.result}


if __name__ == "__main__":
    # What `dramatiq examples.redis_app` does in a worker process, here in-process.
    broker.emit_after("process_boot")  # as the CLI does: middlewares start their helpers
    worker = dramatiq.Worker(broker, worker_threads=2)
    worker.start()
    try:
        handle = process_order.send_with_options(args=("ORD-9",), idempotency_key="order-ORD-9")
        print(handle.result(timeout=30))
        assert app.verify_replay(handle.workflow_id).ok
    finally:
        worker.stop()
        app.close()
