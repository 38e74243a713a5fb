# examples/pyworkflow_testing.py
import asyncio

from wfcore import sleep
from wfcore.testing import LocalStorage, resume_local, start_local
from wfcore_dramatiq import App

app = App(store="memory://")  # only declares here: start_local runs in this process
sent: list[str] = []


@app.step()
async def send_email(user_id: str, kind: str) -> None:
    sent.append(f"{kind} to {user_id}")


@app.workflow()
async def onboarding(user_id: str) -> str:
    await send_email(user_id, "welcome")
    await sleep("1d")
    await send_email(user_id, "tips")
    return "Onboarding complete"


async def test_onboarding() -> None:
    storage = LocalStorage()  # a memory store and a runner with a clock of its own
    run_id = await start_local(onboarding, "user_123", storage=storage)
    run = await storage.get_run(run_id)
    assert run.status == "suspended"  # asleep for a day, nothing held
    assert sent == ["welcome to user_123"]

    run = await resume_local(run_id, storage=storage)  # the clock jumps to the sleep's end
    assert (run.status, run.result) == ("completed", "Onboarding complete")
    assert sent == ["welcome to user_123", "tips to user_123"]


if __name__ == "__main__":
    asyncio.run(test_onboarding())
    print("ok")
    app.close()
