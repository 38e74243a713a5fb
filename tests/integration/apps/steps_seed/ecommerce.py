"""The seed's advanced example: e-commerce order processing (retries, timeout, parallel
steps, an error handler and exit steps)."""

# ruff: noqa: F401
from __future__ import annotations

from typing import Any

from wfcore.steps import Scope, Workflow
from wfcore_dramatiq import App

# Steps


async def validate_order(ctx: dict[str, Any]) -> str:
    # Validate the order details
    print("Order validated!")
    return "Validated order details"


async def charge_credit_card(ctx: dict[str, Any]) -> str:
    # Simulate credit card charge
    print("Credit card charged!")
    return "Transaction ID: 123456"


async def notify_warehouse(ctx: dict[str, Any]) -> None:
    # Notify warehouse for packaging
    print("Warehouse notified for packaging!")


async def notify_shipping(ctx: dict[str, Any]) -> None:
    # Notify shipping company for delivery
    print("Shipping company notified for delivery!")


# Parallel step
async def notify_user(ctx: dict[str, Any]) -> None:
    # Notify user about order status in parallel
    print("User notified about order status!")


async def send_email(ctx: dict[str, Any]) -> None:
    # Send an email confirmation to the user in parallel
    print("Email confirmation sent to user!")


# Error handler
async def handle_error(ctx: dict[str, Any]) -> None:
    print(f"Error in step {ctx['normal_error']['step']}: {ctx['normal_error']['error']}")


# Exit steps
async def log_transaction(ctx: dict[str, Any]) -> None:
    # Log the transaction details
    print(f"Logged transaction with ID: {ctx['charge_credit_card']}")


async def cleanup(ctx: dict[str, Any]) -> None:
    # Cleanup any resources or temporary files
    print("Resources cleaned up!")


def build(app: App | None = None) -> Workflow:
    # Create the workflow with initial context
    wf = Workflow(ctx={"order_id": "order_001"}, app=app)

    # Add steps to the workflow
    wf.add_step(validate_order, retries=2)  # Retry twice if validation fails
    wf.add_step(charge_credit_card, timeout=10)  # Timeout after 10 seconds
    wf.add_step(notify_warehouse)
    wf.add_step(notify_shipping)
    wf.add_parallel_steps([notify_user, send_email], name="notifications")  # Parallel steps
    wf.add_error_step(handle_error)
    wf.add_exit_step(log_transaction)
    wf.add_exit_step(cleanup)
    return wf
