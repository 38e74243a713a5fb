"""Every example of the PyWorkflow seed README, declared on one App.

Each example is the README's code with its import line changed: ``workflow``, ``step`` and
``start`` are the App's (``app.workflow``, ...; the "app=" of a distributed run) and
``sleep``, ``RetryableError``, ``FatalError``, ``configure_logging`` come from ``wfcore``.
Helpers the README uses without defining them (``validate_order``, ``send_reminder``,
``httpx``, ``payment_gateway``) are fakes here; the fakes write to the side-effect ledger so
tests count calls across worker processes. Each example is built by its own function, so
that two examples' functions of the same name (``process_payment``) are distinct steps.
"""

# ruff: noqa: F401, F841 - the README's code, as written
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.apps.ledger import Ledger
from wfcore import FatalError, RetryableError, configure_logging, sleep
from wfcore.pyworkflow import StepFunction, WorkflowFunction
from wfcore_dramatiq import App

__all__ = ["Seeds", "build_seeds"]


@dataclass(frozen=True, slots=True)
class Seeds:
    """The README's workflows (and steps the tests call directly)."""

    app: App
    ledger: Ledger
    onboarding_workflow: WorkflowFunction[..., Any]
    process_order: WorkflowFunction[..., Any]
    fetch_json: WorkflowFunction[..., Any]
    scheduled_reminder: WorkflowFunction[..., Any]
    dashboard_data: WorkflowFunction[..., Any]
    charge: WorkflowFunction[..., Any]
    my_workflow: WorkflowFunction[..., Any]
    crash_order: WorkflowFunction[..., Any]


# -- "Your First Workflow" -------------------------------------------------------------------


def _first_workflow(app: App, ledger: Ledger) -> WorkflowFunction[..., Any]:
    workflow, step, start = app.workflow, app.step, app.start

    @step()
    async def send_welcome_email(user_id: str):  # type: ignore[no-untyped-def]
        # This runs on any available Celery worker
        print(f"Sending welcome email to user {user_id}")
        ledger.append(f"mail-{user_id}", "welcome")
        return f"Email sent to {user_id}"

    @step()
    async def send_tips_email(user_id: str):  # type: ignore[no-untyped-def]
        print(f"Sending tips email to user {user_id}")
        ledger.append(f"mail-{user_id}", "tips")
        return f"Tips sent to {user_id}"

    @workflow()
    async def onboarding_workflow(user_id: str):  # type: ignore[no-untyped-def]
        # Send welcome email immediately
        await send_welcome_email(user_id)

        # Sleep for 1 day - workflow suspends, zero resources used
        await sleep("1d")

        # Automatically resumes after 1 day!
        await send_tips_email(user_id)

        return "Onboarding complete"

    return onboarding_workflow


# -- "Workflows" (process_order), with the steps it names ------------------------------------


def _order(app: App) -> WorkflowFunction[..., Any]:
    workflow, step = app.workflow, app.step

    @step()
    async def validate_order(order_id: str) -> dict[str, Any]:
        return {"order_id": order_id, "amount": 42.0}

    @step()
    async def process_payment(order: dict[str, Any]) -> str:
        return f"paid {order['amount']}"

    @step()
    async def create_shipment(order: dict[str, Any]) -> str:
        return f"shipment for {order['order_id']}"

    @step()
    async def send_confirmation(order: dict[str, Any]) -> None:
        return None

    @workflow(name="process_order", max_duration="1h")
    async def process_order(order_id: str):  # type: ignore[no-untyped-def]
        """
        Process a customer order.

        This workflow:
        - Validates the order
        - Processes payment
        - Creates shipment
        - Sends confirmation
        """
        order = await validate_order(order_id)
        payment = await process_payment(order)
        shipment = await create_shipment(order)
        await send_confirmation(order)

        return {"order_id": order_id, "status": "completed"}

    return process_order


# -- "Steps" (call_external_api), on a fake httpx --------------------------------------------


class _Response:
    def __init__(self, status_code: int, body: Any) -> None:
        self.status_code = status_code
        self._body = body

    def json(self) -> Any:
        return self._body


class FakeHttpx:
    """``httpx.get`` and ``httpx.NetworkError`` of the README's snippet, by URL path:
    ``/missing/...`` answers 404; ``/flaky/<id>`` fails with a network error the first time,
    ``/overloaded/<id>`` with a 500 the first time; anything else 200. Calls are journalled
    under ``http-<id>``."""

    class NetworkError(Exception):
        """A connection failure."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def get(self, url: str) -> _Response:
        kind, key = url.rstrip("/").split("/")[-2:]
        self.ledger.append(f"http-{key}", url)
        logging.getLogger("tests.httpx").info("GET %s", url)
        if kind == "missing":
            return _Response(404, None)
        if kind == "flaky" and self.ledger.first(f"failed-{key}"):
            raise self.NetworkError("connection reset")
        if kind == "overloaded" and self.ledger.first(f"failed-{key}"):
            return _Response(503, None)
        return _Response(200, {"url": url})


def _api(app: App, ledger: Ledger) -> WorkflowFunction[..., Any]:
    workflow, step = app.workflow, app.step
    httpx = FakeHttpx(ledger)

    @step(max_retries=5, retry_delay="exponential")
    async def call_external_api(url: str):  # type: ignore[no-untyped-def]
        """
        Call external API with automatic retry.

        Retries up to 5 times with exponential backoff if it fails.
        """
        try:
            response = await httpx.get(url)

            if response.status_code == 404:
                # Don't retry - resource doesn't exist
                raise FatalError("Resource not found")

            if response.status_code >= 500:
                # Retry - server error
                raise RetryableError("Server error", retry_after="30s")

            return response.json()
        except httpx.NetworkError:
            # Retry with exponential backoff
            raise RetryableError("Network error")  # noqa: B904 - the README's code

    @workflow()
    async def fetch_json(url: str) -> Any:  # (a workflow to run the README's step in)
        return await call_external_api(url)

    return fetch_json


# -- "Sleep and Delays" ----------------------------------------------------------------------


def _reminders(app: App, ledger: Ledger) -> WorkflowFunction[..., Any]:
    workflow, step = app.workflow, app.step

    @step()
    async def send_reminder(user_id: str, when: str) -> None:
        ledger.append(f"reminders-{user_id}", when)

    @workflow()
    async def scheduled_reminder(user_id: str):  # type: ignore[no-untyped-def]
        # Send immediate reminder
        await send_reminder(user_id, "immediate")

        # Sleep for 1 hour
        await sleep("1h")
        await send_reminder(user_id, "1 hour later")

        # Sleep for 1 day
        await sleep("1d")
        await send_reminder(user_id, "1 day later")

        # Sleep for 1 week
        await sleep("7d")
        await send_reminder(user_id, "1 week later")

        return "All reminders sent"

    return scheduled_reminder


# -- "Parallel Execution" --------------------------------------------------------------------


def _dashboard(app: App) -> WorkflowFunction[..., Any]:
    workflow, step = app.workflow, app.step

    @step()
    async def fetch_user(user_id: str):  # type: ignore[no-untyped-def]
        # Fetch user data
        return {"id": user_id, "name": "Alice"}

    @step()
    async def fetch_orders(user_id: str):  # type: ignore[no-untyped-def]
        # Fetch user orders
        return [{"id": "ORD-1"}, {"id": "ORD-2"}]

    @step()
    async def fetch_recommendations(user_id: str):  # type: ignore[no-untyped-def]
        # Fetch recommendations
        return ["Product A", "Product B"]

    @workflow()
    async def dashboard_data(user_id: str):  # type: ignore[no-untyped-def]
        # Fetch all data in parallel
        user, orders, recommendations = await asyncio.gather(
            fetch_user(user_id), fetch_orders(user_id), fetch_recommendations(user_id)
        )

        return {"user": user, "orders": orders, "recommendations": recommendations}

    return dashboard_data


# -- "Error Handling", on a fake payment gateway ---------------------------------------------


class InsufficientFundsError(Exception):
    """The card has not enough money."""


class PaymentGatewayTimeoutError(Exception):
    """The gateway did not answer in time."""


class FakeGateway:
    """``payment_gateway.charge(amount)`` by the amount's whole part: 1xx has insufficient
    funds; 2xx times out the first time; 3xx fails with an unknown error the first time;
    anything else is charged. Calls are journalled under ``charge-<amount>``."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def charge(self, amount: float) -> dict[str, Any]:
        key = f"{amount:.4f}"
        self.ledger.append(f"charge-{key}", amount)
        kind = int(amount) // 100
        if kind == 1:
            raise InsufficientFundsError(f"cannot charge {amount}")
        if kind == 2 and self.ledger.first(f"failed-{key}"):
            raise PaymentGatewayTimeoutError("no answer in 5 s")
        if kind == 3 and self.ledger.first(f"failed-{key}"):
            raise KeyError("gateway sent garbage")
        return {"charged": amount}


def _errors(app: App, ledger: Ledger) -> WorkflowFunction[..., Any]:
    workflow, step = app.workflow, app.step
    payment_gateway = FakeGateway(ledger)

    @step(max_retries=3, retry_delay="exponential")
    async def process_payment(amount: float):  # type: ignore[no-untyped-def]
        try:
            # Attempt payment
            result = await payment_gateway.charge(amount)
            return result
        except InsufficientFundsError:
            # Don't retry - user doesn't have enough money
            raise FatalError("Insufficient funds")  # noqa: B904 - the README's code
        except PaymentGatewayTimeoutError:
            # Retry - temporary issue
            raise RetryableError("Gateway timeout", retry_after="10s")  # noqa: B904
        except Exception as e:
            # Unknown error - retry with backoff
            raise RetryableError(f"Unknown error: {e}")  # noqa: B904

    @workflow()
    async def charge(amount: float) -> Any:  # (a workflow to run the README's step in)
        return await process_payment(amount)

    return charge


# -- "Testing" -------------------------------------------------------------------------------


def _testing(app: App) -> WorkflowFunction[..., Any]:
    workflow, step = app.workflow, app.step

    @step()
    async def my_step(x: int):  # type: ignore[no-untyped-def]
        return x * 2

    @workflow()
    async def my_workflow(x: int):  # type: ignore[no-untyped-def]
        result = await my_step(x)
        return result + 1

    return my_workflow


# -- a workflow a worker is killed in (not in the README) ------------------------------------


def _crash(app: App, ledger: Ledger) -> WorkflowFunction[..., Any]:
    @app.step(max_retries=0)
    async def reserve(order_id: str) -> str:
        ledger.append(f"ran-{order_id}", "reserve")
        return "R-1"

    @app.step(max_retries=0)
    async def pay(order_id: str, reservation: str) -> str:
        ledger.append(f"ran-{order_id}", "pay")  # the test kills the worker here
        while not ledger.exists(f"release-{order_id}"):
            await asyncio.sleep(0.02)
        return f"paid {reservation}"

    @app.step(max_retries=0)
    async def ship(order_id: str) -> str:
        ledger.append(f"ran-{order_id}", "ship")
        return "shipped"

    @app.workflow()
    async def crash_order(order_id: str) -> list[str]:
        reservation = await reserve(order_id)
        payment = await pay(order_id, reservation)
        return [reservation, payment, await ship(order_id)]

    return crash_order


def build_seeds(app: App, ledger_dir: str | Path) -> Seeds:
    """Declare every README example (and the crash workflow) on ``app``."""
    ledger = Ledger(ledger_dir)
    return Seeds(
        app=app,
        ledger=ledger,
        onboarding_workflow=_first_workflow(app, ledger),
        process_order=_order(app),
        fetch_json=_api(app, ledger),
        scheduled_reminder=_reminders(app, ledger),
        dashboard_data=_dashboard(app),
        charge=_errors(app, ledger),
        my_workflow=_testing(app),
        crash_order=_crash(app, ledger),
    )
