# examples/async_dashboard.py
import asyncio
from typing import Any

from wfcore_dramatiq import App

app = App()  # embedded: StubBroker + in-process worker threads + SQLite (or $WFCORE_STORE_URL)

FAKE_API = {"/users/ada": {"name": "Ada"}, "/orders": [12, 30], "/recs": ["tea"]}


@app.task
async def fetch(path: str) -> Any:
    # A plain async task: it runs on Dramatiq's AsyncIO event loop, where real I/O belongs
    # (an httpx.AsyncClient call, say). Here a local coroutine stands in for the network.
    await asyncio.sleep(0.01)
    return FAKE_API[path]


async def issue_token(user_id: str) -> str:
    await asyncio.sleep(0.01)  # real I/O too: a step's coroutine runs once, on a real loop
    return f"token-for-{user_id}"


@app.task(force_new_workflow=True)  # an async workflow body: wfcore's deterministic loop
async def dashboard(user_id: str) -> dict[str, Any]:
    wf = dashboard.wf
    wf.set_data("status", "loading")  # non-waiting operations stay plain calls
    user = await wf.execute_task(fetch, f"/users/{user_id}")  # waits are awaited
    # Both children start at once; the body resumes when both are done.
    orders, recs = await asyncio.gather(
        wf.execute_task(fetch, "/orders"), wf.execute_task(fetch, "/recs")
    )
    token = await wf.deterministic("token", issue_token, user_id)  # recorded, run once
    await wf.sleep(0.1)  # a durable timer: no worker is held while it runs
    wf.set_data("status", "awaiting approval")
    approved = await wf.wait_signal("approval", timeout="2d", default=False)
    return {
        "user": user.result["name"],
        "total": sum(orders.result),
        "recs": recs.result,
        "token": token,
        "approved": approved,
    }


if __name__ == "__main__":
    handle = dashboard.send_with_options(args=("ada",))
    handle.wait_data("status", equals="awaiting approval", timeout=10)
    handle.signal("approval", True)
    print(handle.result(timeout=10))
    # {'user': 'Ada', 'total': 42, 'recs': ['tea'], 'token': 'token-for-ada', 'approved': True}
    print(app.verify_replay(handle.workflow_id).ok)  # True: replays take the same path
    app.close()
