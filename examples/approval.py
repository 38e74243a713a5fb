# examples/approval.py
from wfcore import WorkflowNotRunningError
from wfcore_dramatiq import App

app = App()  # embedded: StubBroker + in-process worker threads + SQLite (or $WFCORE_STORE_URL)


@app.task(force_new_workflow=True)
def approval_flow(order_id: str, expires: str) -> dict[str, object]:
    wf = approval_flow.wf
    wf.set_data("status", "awaiting approval")  # clients read it: handle.get_data("status")
    # Suspends (no worker held) until an "approval" signal comes, or the timer expires.
    decision = wf.wait_signal("approval", timeout=expires, default=None)
    if decision is None:
        wf.set_data("status", "expired")
        return {"order": order_id, "status": "expired"}
    comment = wf.poll_signal("comment")  # never waits: the next buffered one, or None
    status = "approved" if decision["ok"] else "rejected"
    wf.set_data("status", status)
    return {"order": order_id, "status": status, "by": decision["by"], "comment": comment}


if __name__ == "__main__":
    # An approval that comes in time.
    handle = approval_flow.send_with_options(args=("ORD-1", "2d"))
    handle.wait_data("status", equals="awaiting approval", timeout=10)
    handle.signal("comment", "ship it")  # buffered until the workflow asks for it
    # Durable when it returns; signal_id makes a retried call (a lost reply) deliver once.
    handle.signal("approval", {"ok": True, "by": "ana"}, signal_id="ticket-77")
    handle.signal("approval", {"ok": True, "by": "ana"}, signal_id="ticket-77")  # a retry
    print(handle.result(timeout=10))
    print(handle.data())  # {'status': 'approved'}

    # One that nobody approves within its second.
    late = approval_flow.send_with_options(args=("ORD-2", "1s"))
    print(late.result(timeout=10))  # {'order': 'ORD-2', 'status': 'expired'}
    try:
        late.signal("approval", {"ok": True, "by": "bob"})
    except WorkflowNotRunningError as exc:
        print(exc.status)  # COMPLETED: a finished workflow takes no signals
    app.close()
