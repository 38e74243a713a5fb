"""The tasks of the broker-parametrised suites, declared on any ``App``.

The test process (client) and the ``dramatiq`` worker processes must declare the same tasks
under the same names, so they live here and are built by ``Scenarios(app, ledger)``. Side
effects that a test counts go to a ``Ledger`` (files), never to process memory, because the
body may run in another process. Retry backoffs are a few milliseconds so retries are quick.
"""

from __future__ import annotations

import time
from typing import Any

from tests.integration.apps.continuing import ContinuingTasks
from tests.integration.apps.ledger import Ledger
from tests.integration.apps.repairs import RepairTasks
from wfcore import TaskHandle, WorkflowIdentity
from wfcore.errors import FatalError, RetryableError, TaskFailedError
from wfcore_dramatiq import App

__all__ = ["FAST_RETRIES", "Scenarios", "identity_of"]

FAST_RETRIES: dict[str, Any] = {"min_backoff": 10, "max_backoff": 50}
"""Dramatiq backoff options (ms) that keep retries quick (the default minimum is 15 s)."""

_SLOW_CAP_S = 20.0


def identity_of(identity: WorkflowIdentity) -> dict[str, str | None]:
    """A workflow identity as a plain dict (what tasks return to the tests)."""
    return {
        "workflow_id": identity.workflow_id,
        "workflow_type": identity.workflow_type,
        "parent_workflow_id": identity.parent_workflow_id,
        "root_workflow_id": identity.root_workflow_id,
    }


class Scenarios:
    """Every task of the seed scenarios and of the plugin behaviours, declared on ``app``."""

    def __init__(self, app: App, ledger: Ledger) -> None:
        self.app = app
        self.ledger = ledger
        self._declare_identity()
        self._declare_retry_and_failures()
        self._declare_children()
        self._declare_orders()
        self._declare_client_side()
        self.repairs = RepairTasks(app, ledger)
        self._declare_signals()
        self.continuing = ContinuingTasks(app, ledger)

    # -- identity, lineage and data (seed: "Creating New Workflow Boundaries", state) -------

    def _declare_identity(self) -> None:
        app = self.app

        @app.task
        def whoami() -> dict[str, str | None]:
            return identity_of(whoami.workflow)

        @app.task
        def chain_a(token: str) -> dict[str, Any]:
            wf = chain_a.wf
            wf.set_data("token", token)
            b = wf.execute_task(chain_b)
            return {
                "a": identity_of(chain_a.workflow),
                "b_result_workflow": identity_of(b.workflow),
                **b.result,
            }

        @app.task
        def chain_b() -> dict[str, Any]:
            c = chain_b.wf.execute_task(chain_c)
            return {
                "b": identity_of(chain_b.workflow),
                "b_saw": chain_b.wf.get_data("token"),
                **c.result,
            }

        @app.task
        def chain_c() -> dict[str, Any]:
            return {"c": identity_of(chain_c.workflow), "c_saw": chain_c.wf.get_data("token")}

        @app.task(force_new_workflow=True)
        def independent_workflow(data: dict[str, Any]) -> dict[str, Any]:
            wf = independent_workflow.wf
            return {
                "workflow_id": independent_workflow.workflow.workflow_id,
                "unique_value": wf.random(),
                "timestamp": wf.utc_now().isoformat(),
                "data": data,
                "saw_parent_data": wf.get_data("marker"),
            }

        @app.task
        def call_independent_workflow(input_data: dict[str, Any]) -> dict[str, Any]:
            wf = call_independent_workflow.wf
            wf.set_data("marker", "parent-only")
            parent_workflow_id = call_independent_workflow.workflow.workflow_id
            child = wf.execute_task(independent_workflow, input_data)
            return {
                "parent_workflow_id": parent_workflow_id,
                "child_workflow_id": child.workflow.workflow_id,
                "child_identity": identity_of(child.workflow),
                "child_result": child.result,
                "workflows_are_different": parent_workflow_id != child.workflow.workflow_id,
            }

        @app.task
        def stateful_workflow(user_id: str) -> dict[str, Any]:
            wf = stateful_workflow.wf
            before = wf.get_data("user_id")
            wf.set_data("user_id", user_id)
            wf.set_data("started_at", wf.utc_now().isoformat())
            steps = []
            for step in range(3):
                step_id = wf.uuid()
                steps.append({"step": step + 1, "step_id": step_id})
                wf.set_data(f"step_{step + 1}_result", step_id)
            return {
                "workflow_id": stateful_workflow.workflow.workflow_id,
                "user_id_before": before,
                "user_id": wf.get_data("user_id"),
                "step_results": [wf.get_data(f"step_{i + 1}_result") for i in range(3)],
                "processing_steps": steps,
            }

        self.whoami = whoami
        self.chain_a = chain_a
        self.chain_b = chain_b
        self.chain_c = chain_c
        self.independent_workflow = independent_workflow
        self.call_independent_workflow = call_independent_workflow
        self.stateful_workflow = stateful_workflow

    # -- retries and failures --------------------------------------------------------------

    def _declare_retry_and_failures(self) -> None:
        app, ledger = self.app, self.ledger

        @app.task
        def counted_child(token: str) -> dict[str, Any]:
            wf = counted_child.wf
            ledger.append(f"{token}.child", {"invocation_id": wf.invocation_id})
            return {"invocation_id": wf.invocation_id, "random": wf.random()}

        @app.task(max_retries=2, **FAST_RETRIES)
        def flaky_parent(token: str) -> dict[str, Any]:
            wf = flaky_parent.wf
            values = {"random": wf.random(), "uuid": wf.uuid(), "now": wf.utc_now().isoformat()}
            child = wf.execute_task(counted_child, token)
            ledger.append(f"{token}.parent-saw", values)
            if ledger.first(f"{token}.parent-failed"):
                raise RuntimeError("first attempt fails after drawing values and running a child")
            return {"values": values, "child": child.result}

        @app.task(max_retries=2, **FAST_RETRIES)
        def doomed_child(token: str, how: str) -> None:
            ledger.append(f"{token}.doomed")
            if how == "fatal":
                raise FatalError(f"card declined for good ({token})")
            raise ValueError(f"gateway exploded ({token})")

        @app.task
        def catching_parent(token: str, how: str) -> dict[str, Any]:
            wf = catching_parent.wf
            caught: dict[str, Any] = {}
            try:
                wf.execute_task(doomed_child, token, how)
            except TaskFailedError as exc:
                caught = {
                    "task_name": exc.task_name,
                    "invocation_id": exc.invocation_id,
                    "error_type": exc.error_type,
                    "error_message": exc.error_message,
                    "traceback": exc.traceback,
                }
                ledger.append(f"{token}.caught", caught)
            # One more child: the parent suspends again, so it replays the failure above.
            after = wf.execute_task(counted_child, token)
            return {"caught": caught, "after": after.result["invocation_id"]}

        @app.task(max_retries=0)
        def explodes(token: str) -> None:
            explodes.wf.set_data("reached", True)
            raise ValueError(f"unhandled boom {token}")

        self.counted_child = counted_child
        self.flaky_parent = flaky_parent
        self.doomed_child = doomed_child
        self.catching_parent = catching_parent
        self.explodes = explodes

    # -- children: execute_task, start_task + wait, task.send, identical calls ---------------

    def _declare_children(self) -> None:
        app, counted_child = self.app, self.counted_child

        @app.task
        def draw() -> dict[str, Any]:
            wf = draw.wf
            return {"random": wf.random(), "uuid": wf.uuid(), "invocation_id": wf.invocation_id}

        @app.task
        def random_parent() -> dict[str, Any]:
            wf = random_parent.wf
            mine = {"random": wf.random(), "uuid": wf.uuid(), "invocation_id": wf.invocation_id}
            child = wf.execute_task(draw)
            return {"parent": mine, "child": child.result}

        @app.task
        def square(n: int) -> int:
            return n * n

        @app.task
        def fan_parent() -> dict[str, Any]:
            wf = fan_parent.wf
            h1, h2, h3 = (wf.start_task(square, n) for n in (2, 3, 4))
            first_two = wf.wait(h1, h2)
            third = h3.result()
            executed = wf.execute_task(square, 5)
            sent = square.send(6)
            return {
                "waited": [r.result for r in first_two],
                "handle_result": third,
                "executed": executed.result,
                "sent_type": type(sent).__name__,
                "sent_is_task_handle": isinstance(sent, TaskHandle),
                "sent_result": sent.result(),
                "invocations": [h.invocation_id for h in (h1, h2, h3)],
            }

        @app.task
        def twice_parent(token: str) -> list[str]:
            wf = twice_parent.wf
            first = wf.execute_task(counted_child, token)
            second = wf.execute_task(counted_child, token)
            return [first.invocation_id, second.invocation_id]

        @app.task
        def recorder(token: str) -> dict[str, Any]:
            wf = recorder.wf
            wf.random()
            wf.randint(1, 6)
            wf.choice(["a", "b"])
            wf.uuid()
            wf.utc_now()
            wf.deterministic("sequence", lambda: 4242)
            wf.set_data("status", "recorded")
            wf.get_data("status")
            child = wf.execute_task(square, 7)
            return {"child": child.result}

        self.draw = draw
        self.random_parent = random_parent
        self.square = square
        self.fan_parent = fan_parent
        self.twice_parent = twice_parent
        self.recorder = recorder

    # -- order processing (seed: "Complex Workflow with Error Handling") --------------------

    def _declare_orders(self) -> None:
        app, ledger = self.app, self.ledger

        @app.task
        def validate_order(order_data: dict[str, Any]) -> dict[str, Any]:
            wf = validate_order.wf
            validation_id = wf.uuid()
            validated_at = wf.utc_now()
            errors = []
            if not order_data.get("customer_id"):
                errors.append("Missing customer_id")
            if not order_data.get("items"):
                errors.append("No items in order")
            return {
                "validation_id": validation_id,
                "valid": not errors,
                "errors": errors,
                "validated_at": validated_at.isoformat(),
            }

        @app.task(max_retries=3, **FAST_RETRIES)
        def process_payment_with_retry(order_data: dict[str, Any]) -> dict[str, Any]:
            wf = process_payment_with_retry.wf
            payment_id = wf.uuid()
            attempt_time = wf.utc_now()
            order_id = order_data["order_id"]
            ledger.append(f"{order_id}.payment", {"payment_id": payment_id})
            # The gateway times out on the first try of each order (the task's own I/O).
            if ledger.first(f"{order_id}.gateway-timeout"):
                raise RetryableError("gateway timeout", delay=0.05)
            return {
                "payment_id": payment_id,
                "status": "completed",
                "amount": order_data.get("total", 0),
                "processed_at": attempt_time.isoformat(),
            }

        @app.task(max_retries=1, **FAST_RETRIES)
        def reserve_inventory(order_data: dict[str, Any]) -> dict[str, Any]:
            wf = reserve_inventory.wf
            reservation_id = wf.uuid()
            reserved = []
            for item in order_data.get("items", []):
                if str(item.get("id", "")).startswith("OOS-"):
                    raise LookupError(f"item {item['id']} is out of stock")
                reserved.append({"item_id": item.get("id"), "reservation_id": wf.uuid()})
            return {
                "reservation_id": reservation_id,
                "reserved_items": reserved,
                "reserved_at": wf.utc_now().isoformat(),
            }

        @app.task
        def generate_shipping_label(order_id: str, inventory: dict[str, Any]) -> dict[str, Any]:
            wf = generate_shipping_label.wf
            return {
                "tracking_number": f"TRK-{order_id}-{int(wf.random() * 100000):05d}",
                "label_id": wf.uuid(),
                "order_id": order_id,
                "reservation_id": inventory["reservation_id"],
            }

        @app.task
        def cleanup_failed_order(order_id: str) -> dict[str, Any]:
            wf = cleanup_failed_order.wf
            ledger.append(f"{order_id}.cleanup")
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

        self.validate_order = validate_order
        self.process_payment_with_retry = process_payment_with_retry
        self.reserve_inventory = reserve_inventory
        self.generate_shipping_label = generate_shipping_label
        self.cleanup_failed_order = cleanup_failed_order
        self.robust_processing_workflow = robust_processing_workflow

    # -- client side: idempotency, delay, slow workflows ------------------------------------

    def _declare_client_side(self) -> None:
        app, ledger = self.app, self.ledger

        @app.task
        def once(token: str) -> dict[str, Any]:
            wf = once.wf
            ledger.append(f"{token}.once")
            return {"workflow_id": once.workflow.workflow_id, "started_at": wf.utc_now()}

        @app.task
        def slow(token: str) -> str:
            # Holds its worker thread until the test releases it (bounded, never forever).
            deadline = time.monotonic() + _SLOW_CAP_S
            while not ledger.exists(f"{token}.release") and time.monotonic() < deadline:
                time.sleep(0.02)
            return "released"

        self.once = once
        self.slow = slow

    # -- signals (issue "Workflows that talk") ---------------------------------------------

    def _declare_signals(self) -> None:
        app, ledger = self.app, self.ledger

        @app.task(force_new_workflow=True)
        def approval(token: str, timeout: float) -> dict[str, Any]:
            wf = approval.wf
            ledger.append(f"{token}.approval-run")  # every execution, replays too
            wf.set_data("status", "awaiting approval")
            decision = wf.wait_signal("approval", timeout=timeout, default=None)
            if decision is None:
                wf.set_data("status", "expired")
                return {"status": "expired"}
            wf.set_data("status", "approved" if decision["ok"] else "rejected")
            return {"status": wf.get_data("status"), "by": decision["by"]}

        @app.task
        def drain(count: int) -> list[Any]:
            wf = drain.wf
            return [wf.wait_signal("n") for _ in range(count)]

        @app.task
        def notify(target: str, token: str) -> str:
            wf = notify.wf
            wf.signal_workflow(target, "approval", {"ok": True, "by": token})
            wf.sleep(0.05)  # resumes: the send replays
            return "sent"

        self.approval, self.drain, self.notify = approval, drain, notify
