# examples/quickstart.py
from wfcore_dramatiq import App

app = App()  # embedded: StubBroker + in-process worker threads + SQLite (or $WFCORE_STORE_URL)


@app.task
def charge(order_id: str) -> dict[str, str]:
    return {"payment_id": charge.wf.uuid(), "at": charge.wf.utc_now().isoformat()}


@app.task(force_new_workflow=True)
def process_order(order_id: str) -> dict[str, object]:
    wf = process_order.wf
    tracking = f"TRK-{order_id}-{int(wf.random() * 100000):05d}"  # same value on every replay
    payment = wf.execute_task(charge, order_id)  # suspends; no worker thread is held meanwhile
    wf.set_data("status", "paid")
    return {"tracking": tracking, "payment": payment.result}


if __name__ == "__main__":
    print(app.run(process_order, "ORD-1"))
    app.close()
