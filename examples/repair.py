# examples/repair.py
from wfcore.errors import WorkflowFailedError
from wfcore_dramatiq import App

app = App()  # embedded default: StubBroker + worker threads + ./wfcore.sqlite3
BUG_SHIPPED = True  # the bug; the "fix" below sets it to False
runs: list[str] = []


@app.task(max_retries=0)
def step(order_id: str, name: str) -> str:
    runs.append(name)
    if name == "ship" and BUG_SHIPPED:
        raise ValueError("carrier code is None")
    return f"{name}:{order_id}"


@app.task(max_retries=0)
def process_order(order_id: str) -> list[str]:
    wf = process_order.wf
    return [wf.execute_task(step, order_id, name).result for name in ("reserve", "pay", "ship")]


if __name__ == "__main__":
    handle = process_order.send_with_options(args=("ORD-1",))
    try:
        handle.result(timeout=30)
    except WorkflowFailedError as e:
        print("failed:", e.error_message)

    BUG_SHIPPED = False  # the fix is deployed
    handle.resume()  # recorded steps replay; only the failed child runs again
    print("resumed:", handle.result(timeout=30))
    assert runs == ["reserve", "pay", "ship", "ship"], runs
    assert app.verify_replay(handle.workflow_id).ok

    fork = handle.fork(from_seq=1)  # a new workflow: seq 1 ("pay") and what follows run again
    print("forked:", fork.workflow_id, fork.result(timeout=30))
    assert runs[4:] == ["pay", "ship"], runs
    app.close()
