"""The seed's order-processing workflow: happy path, validation failure, exception + cleanup.

The scenario copy (``tests/integration/apps/scenarios.py``) runs on both deployments; the
shipped demo (``wfcore_dramatiq.demo``, what ``wfcore demo`` runs) runs on the embedded App.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from tests.integration.harness import RESULT_TIMEOUT, Deployment, data_value, start, token
from wfcore import WorkflowStatus
from wfcore_dramatiq import App
from wfcore_dramatiq.demo import DEMO_ORDER, build_demo


def _order(**changes: Any) -> dict[str, Any]:
    order = {
        "order_id": f"ORD-{token()}",
        "customer_id": "CUST-42",
        "total": 129.90,
        "items": [{"id": "SKU-1", "quantity": 2}, {"id": "SKU-7", "quantity": 1}],
    }
    order.update(changes)
    return order


def _task_names(deployment: Deployment, workflow_id: str) -> list[str]:
    return [i.task_name for i in deployment.app.store.list_invocations(workflow_id)]


def test_an_order_is_processed_end_to_end(deployment: Deployment) -> None:
    # Given a valid order (the payment gateway times out on the first try)
    s, ledger, order = deployment.s, deployment.ledger, _order()

    # When the order workflow runs
    handle = start(s.robust_processing_workflow, order)
    result = handle.result(timeout=RESULT_TIMEOUT)

    # Then it completed every step
    assert result["status"] == "completed"
    assert result["order_id"] == order["order_id"]
    assert re.fullmatch(rf"TRK-{order['order_id']}-\d{{5}}", result["tracking_number"])
    assert uuid.UUID(result["payment_id"]).version == 4
    assert result["processing_time_seconds"] > 0
    # And the payment was retried once with the same recorded payment id
    attempts = ledger.read(f"{order['order_id']}.payment")
    assert [a["payment_id"] for a in attempts] == [result["payment_id"]] * 2
    # And its data says so, and no cleanup ran
    history = handle.history()
    assert data_value(history, "status") == "completed"
    assert data_value(history, "payment_id") == result["payment_id"]
    assert data_value(history, "reservation_id") == result["reservation_id"]
    assert ledger.count(f"{order['order_id']}.cleanup") == 0
    assert handle.status() is WorkflowStatus.COMPLETED


def test_an_order_without_customer_fails_validation(deployment: Deployment) -> None:
    # Given an order with no customer_id
    s, ledger, order = deployment.s, deployment.ledger, _order(customer_id=None)

    # When the order workflow runs
    handle = start(s.robust_processing_workflow, order)
    result = handle.result(timeout=RESULT_TIMEOUT)

    # Then it stops at validation, says why, and never charged anything
    assert result == {
        "order_id": order["order_id"],
        "status": "failed",
        "step": "validation",
        "error": ["Missing customer_id"],
    }
    assert data_value(handle.history(), "status") == "validation_failed"
    assert ledger.count(f"{order['order_id']}.payment") == 0
    assert _task_names(deployment, handle.workflow_id) == [
        "robust_processing_workflow",
        "validate_order",
    ]
    # And the workflow itself completed: a business failure is a result, not a crash
    assert handle.status() is WorkflowStatus.COMPLETED


def test_a_failing_step_runs_the_cleanup_child_exactly_once(deployment: Deployment) -> None:
    # Given an order with an out-of-stock item (reserve_inventory raises, retries exhausted)
    s, ledger = deployment.s, deployment.ledger
    order = _order(items=[{"id": "SKU-1", "quantity": 1}, {"id": "OOS-9", "quantity": 1}])

    # When the order workflow runs
    handle = start(s.robust_processing_workflow, order)
    result = handle.result(timeout=RESULT_TIMEOUT)

    # Then the except branch ran: status error, the step's error, and the cleanup result
    assert result["status"] == "error"
    assert "item OOS-9 is out of stock" in result["error"]
    assert "reserve_inventory" in result["error"]
    assert result["cleanup_result"]["order_id"] == order["order_id"]
    history = handle.history()
    assert data_value(history, "status") == "error"
    assert "out of stock" in data_value(history, "error")
    # And the cleanup child ran exactly once, though the parent replayed after it
    assert ledger.count(f"{order['order_id']}.cleanup") == 1
    assert _task_names(deployment, handle.workflow_id).count("cleanup_failed_order") == 1
    assert _task_names(deployment, handle.workflow_id).count("generate_shipping_label") == 0
    assert handle.status() is WorkflowStatus.COMPLETED


def test_the_shipped_demo_processes_its_order_on_the_embedded_app(tmp_path: Path) -> None:
    # Given the embedded App with the demo's tasks (what `wfcore demo` runs)
    with App(store=f"sqlite:///{tmp_path / 'demo.sqlite3'}") as app:
        tasks = build_demo(app)

        # When the demo order is processed
        result = app.run(tasks["robust_processing_workflow"], DEMO_ORDER)

    # Then it completed with a tracking number for that order
    assert result["status"] == "completed"
    assert result["order_id"] == DEMO_ORDER["order_id"]
    assert result["tracking_number"].startswith(f"TRK-{DEMO_ORDER['order_id']}-")
