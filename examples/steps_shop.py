# examples/steps_shop.py
import asyncio
from typing import Any

from wfcore.steps import StepFailedError, Workflow

Ctx = dict[str, Any]


async def validate_order(ctx: Ctx) -> str:
    await asyncio.sleep(0.01)  # a real event loop: steps may await real I/O
    return f"order {ctx['order_id']} valid"


async def charge_credit_card(ctx: Ctx) -> str:
    if ctx["card"] == "declined":
        raise ValueError("card declined")
    ctx["charged"] = True  # changes to ctx are kept, like return values
    return "TX-123456"


def notify_user(ctx: Ctx) -> str:  # plain functions are steps too
    return "user notified"


async def send_email(ctx: Ctx) -> str:
    return "email sent"


async def handle_error(ctx: Ctx) -> str:
    return f"sorry, {ctx['normal_error']['step']} failed: {ctx['normal_error']['error']}"


async def cleanup(ctx: Ctx) -> str:  # an EXIT step: after success, failure or cancellation
    return "cleaned up"


def order_workflow(card: str) -> Workflow:
    wf = Workflow(ctx={"order_id": "ORD-1", "card": card})  # the embedded default App
    wf.add_step(validate_order, retries=2)
    wf.add_step(charge_credit_card, timeout=10)
    wf.add_parallel_steps([notify_user, send_email], name="notifications")
    wf.add_error_step(handle_error)
    wf.add_exit_step(cleanup)
    return wf


async def main() -> None:
    ctx = await order_workflow("ok").run()
    assert ctx["notifications"] == ["user notified", "email sent"]
    assert ctx["charged"] is True
    assert ctx["cleanup"] == "cleaned up"
    print(ctx)

    failing = order_workflow("declined")
    try:
        await failing.run()
    except StepFailedError as exc:  # not swallowed: raised after the ERROR and EXIT steps
        print("failed as expected:", exc.step, exc.error_type, exc.error_message)
    else:
        raise AssertionError("a declined card must fail the run")
    assert failing.ctx["handle_error"] == "sorry, charge_credit_card failed: card declined"
    assert failing.ctx["cleanup"] == "cleaned up"


if __name__ == "__main__":
    asyncio.run(main())
