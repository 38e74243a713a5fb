"""The seed's "Complex Example With Workflow Library" (order processing, parallel steps)."""

# ruff: noqa: F401
from __future__ import annotations

from typing import Any

from wfcore.steps import Scope, Workflow
from wfcore_dramatiq import App


async def validate_order(ctx: dict[str, Any]) -> None:
    order_id = ctx["order_id"]
    print(f"Validating order {order_id}")
    ctx["order_valid"] = True


async def process_payment(ctx: dict[str, Any]) -> None:
    order_id = ctx["order_id"]
    print(f"Processing payment for order {order_id}")
    ctx["payment_status"] = "Payment successful"


async def check_stock(ctx: dict[str, Any]) -> None:
    item_id = ctx["item_id"]
    print(f"Checking stock for item {item_id}")
    ctx["stock_available"] = True


async def send_order_received_notification(ctx: dict[str, Any]) -> None:
    user_id = ctx["user_id"]
    message = "Order received"
    print(f"Sending notification to user {user_id}: {message}")


async def send_order_processed_notification(ctx: dict[str, Any]) -> None:
    user_id = ctx["user_id"]
    message = f"Order processed: {ctx['payment_status']}"
    print(f"Sending notification to user {user_id}: {message}")


async def handle_error(ctx: dict[str, Any]) -> None:
    user_id = ctx["user_id"]
    error_message = f"Order processing failed: {ctx.get('error_message', 'Unknown Error')}"
    print(f"Sending notification to user {user_id}: {error_message}")


def build(app: App | None = None) -> Workflow:
    wf = Workflow(ctx={"order_id": "order123", "item_id": "item456", "user_id": "user789"}, app=app)

    wf.add_step(validate_order)
    wf.add_step(process_payment, retries=3)  # Retries for payment processing
    wf.add_parallel_steps(
        [check_stock, send_order_received_notification], name="stock_and_notification"
    )  # Parallel execution
    wf.add_step(send_order_processed_notification)
    wf.add_error_step(handle_error)
    return wf
