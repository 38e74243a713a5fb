"""The workflow code the golden histories were recorded from, in its versions.

``current`` is today's code. ``old`` is the code before the fee change (the goldens named
``*-old.wfh`` were recorded with it). ``unguarded`` is today's change made without
``wf.patched``: replaying old histories with it must fail.
"""

from __future__ import annotations

from typing import Any

from wfcore import LocalRunner, StateStore, Task

VARIANTS = ("current", "old", "unguarded")


def build(
    variant: str = "current", store: StateStore | None = None
) -> tuple[LocalRunner, Task[..., Any]]:
    """A runner with the golden tasks in one version of the code, and the entry task."""
    runner = LocalRunner(store)

    @runner.task(name="golden.charge")
    def charge(amount: int) -> dict[str, Any]:
        return {"payment_id": charge.wf.uuid(), "amount": amount}

    @runner.task(name="golden.ship", force_new_workflow=True)
    def ship(order_id: str) -> str:
        return f"TRK-{order_id}-{ship.wf.randint(10000, 99999)}"

    @runner.task(name="golden.order")
    def order(order_id: str, amount: int) -> dict[str, Any]:
        wf = order.wf
        wf.set_data("status", "started")
        started = wf.utc_now()
        fee = 0
        if (variant == "current" and wf.patched("fee-rule")) or variant == "unguarded":
            fee = wf.deterministic("fee", lambda: amount // 10)
        payment = wf.execute_task(charge, amount + fee)
        tracking = wf.execute_task(ship, order_id)
        wf.set_data("status", "done")
        return {
            "order_id": order_id,
            "payment": payment.result,
            "tracking": tracking.result,
            "fee": fee,
            "started": started.isoformat(),
            "lucky": wf.random() < 0.5,
        }

    return runner, order
