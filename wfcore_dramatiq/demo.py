"""The order-processing demo (Pynenc's workflow example, on wfcore): ``wfcore demo``."""

from __future__ import annotations

import threading
from typing import Any

from wfcore.errors import RetryableError
from wfcore_dramatiq._app import App, DramatiqTask

__all__ = ["DEMO_ORDER", "build_demo"]

DEMO_ORDER: dict[str, Any] = {
    "order_id": "ORD-1001",
    "customer_id": "CUST-42",
    "total": 129.90,
    "items": [{"id": "SKU-1", "quantity": 2}, {"id": "SKU-7", "quantity": 1}],
}


class FlakyGateway:
    """A payment gateway that times out on the first try of each order, then succeeds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: dict[str, int] = {}

    def charge(self, order_id: str, amount: float) -> str:
        with self._lock:
            self.calls[order_id] = self.calls.get(order_id, 0) + 1
            if self.calls[order_id] == 1:
                raise RetryableError("gateway timeout", delay=0.05)
        return f"PAY-{order_id}"


def build_demo(app: App) -> dict[str, DramatiqTask[..., Any]]:
    """Declare the demo's tasks on ``app``; returns them by name."""
    gateway = FlakyGateway()

    @app.task
    def validate_order(order_data: dict[str, Any]) -> dict[str, Any]:
        wf = validate_order.wf
        errors = []
        if not order_data.get("customer_id"):
            errors.append("Missing customer_id")
        if not order_data.get("items"):
            errors.append("No items in order")
        return {
            "validation_id": wf.uuid(),
            "valid": not errors,
            "errors": errors,
            "validated_at": wf.utc_now().isoformat(),
        }

    @app.task(max_retries=3)
    def process_payment_with_retry(order_data: dict[str, Any]) -> dict[str, Any]:
        wf = process_payment_with_retry.wf
        payment_id = wf.uuid()
        attempt_time = wf.utc_now()
        # The gateway call is the task's own I/O: a RetryableError retries the whole task,
        # whose recorded uuid and time replay unchanged.
        reference = gateway.charge(order_data["order_id"], order_data.get("total", 0))
        return {
            "payment_id": payment_id,
            "reference": reference,
            "status": "completed",
            "amount": order_data.get("total", 0),
            "processed_at": attempt_time.isoformat(),
        }

    @app.task
    def reserve_inventory(order_data: dict[str, Any]) -> dict[str, Any]:
        wf = reserve_inventory.wf
        reservation_id = wf.uuid()
        reserved = [
            {
                "item_id": item.get("id"),
                "quantity": item.get("quantity"),
                "reservation_id": wf.uuid(),
            }
            for item in order_data.get("items", [])
        ]
        return {
            "reservation_id": reservation_id,
            "reserved_items": reserved,
            "reserved_at": wf.utc_now().isoformat(),
        }

    @app.task
    def generate_shipping_label(order_id: str, inventory_data: dict[str, Any]) -> dict[str, Any]:
        wf = generate_shipping_label.wf
        return {
            "label_id": wf.uuid(),
            "tracking_number": f"TRK-{order_id}-{int(wf.random() * 100000):05d}",
            "order_id": order_id,
            "reservation_id": inventory_data["reservation_id"],
            "generated_at": wf.utc_now().isoformat(),
        }

    @app.task
    def cleanup_failed_order(order_id: str) -> dict[str, Any]:
        wf = cleanup_failed_order.wf
        return {
            "cleanup_id": wf.uuid(),
            "order_id": order_id,
            "actions": ["released_inventory", "voided_payment", "notified_customer"],
            "cleaned_at": wf.utc_now().isoformat(),
        }

    @app.task(force_new_workflow=True)
    def robust_processing_workflow(order_data: dict[str, Any]) -> dict[str, Any]:
        wf = robust_processing_workflow.wf
        workflow_start = wf.utc_now()
        order_id = order_data.get("order_id") or wf.uuid()
        wf.set_data("order_id", order_id)
        wf.set_data("started_at", workflow_start.isoformat())
        wf.set_data("status", "processing")
        try:
            validation = wf.execute_task(validate_order, order_data)
            if not validation.result["valid"]:
                wf.set_data("status", "validation_failed")
                return {
                    "order_id": order_id,
                    "status": "failed",
                    "step": "validation",
                    "error": validation.result["errors"],
                }
            payment = wf.execute_task(process_payment_with_retry, order_data)
            wf.set_data("payment_id", payment.result["payment_id"])
            inventory = wf.execute_task(reserve_inventory, order_data)
            wf.set_data("reservation_id", inventory.result["reservation_id"])
            shipping = wf.execute_task(generate_shipping_label, order_id, inventory.result)
            wf.set_data("status", "completed")
            completed = wf.utc_now()
            return {
                "order_id": order_id,
                "status": "completed",
                "payment_id": payment.result["payment_id"],
                "reservation_id": inventory.result["reservation_id"],
                "tracking_number": shipping.result["tracking_number"],
                "started_at": workflow_start.isoformat(),
                "completed_at": completed.isoformat(),
                "processing_time_seconds": (completed - workflow_start).total_seconds(),
            }
        except Exception as exc:
            wf.set_data("status", "error")
            wf.set_data("error", str(exc))
            cleanup = wf.execute_task(cleanup_failed_order, order_id)
            return {
                "order_id": order_id,
                "status": "error",
                "error": str(exc),
                "cleanup_result": cleanup.result,
            }

    tasks: list[DramatiqTask[..., Any]] = [
        validate_order,
        process_payment_with_retry,
        reserve_inventory,
        generate_shipping_label,
        cleanup_failed_order,
        robust_processing_workflow,
    ]
    return {t.spec.name: t for t in tasks}
