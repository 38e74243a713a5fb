"""Every example of the st-workflow seed README, with only its import line changed (and an
``app=`` for the real worker), on the embedded default App and on a real worker over Redis."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.integration.apps.steps_seed import (
    complex_order,
    data_pipeline,
    dependency_injection,
    ecommerce,
    infrastructure,
    quick_start,
    web_scraping,
)
from tests.steps.conftest import Setup


def test_quick_start(setup: Setup) -> None:
    ctx = asyncio.run(quick_start.build(setup.app).run())
    assert ctx == {"initial_data": "data_value", "step1": None}


def test_complex_order_example_with_retries_and_parallel_steps(setup: Setup) -> None:
    wf = complex_order.build(setup.app)
    ctx = asyncio.run(wf.run())
    assert ctx == {
        "order_id": "order123",
        "item_id": "item456",
        "user_id": "user789",
        "order_valid": True,
        "validate_order": None,
        "payment_status": "Payment successful",
        "process_payment": None,
        "stock_available": True,  # set by a parallel step: merged back
        "stock_and_notification": [None, None],
        "send_order_processed_notification": None,
    }
    assert wf.ctx is ctx  # the caller's dict, updated in place


def test_web_scraping(setup: Setup) -> None:
    ctx = asyncio.run(web_scraping.build(setup.app).run())
    assert ctx == {
        "fetch_data": "fetched data",
        "process_data": "fetched data processed",
        "store_in_db": None,
        "notify_someone": None,
    }


def test_data_pipeline(setup: Setup) -> None:
    ctx = asyncio.run(data_pipeline.build(setup.app).run())
    assert ctx["transform_data"] == "cleaned data transformed"
    assert "generate_report" in ctx


def test_infrastructure(setup: Setup) -> None:
    ctx = asyncio.run(infrastructure.build(setup.app).run())
    assert ctx["create_vm"] == "vm123"
    assert list(ctx) == ["create_vm", "configure_vm", "deploy_app", "monitor_status"]


def test_ecommerce_with_retries_timeout_parallel_error_and_exit_steps(setup: Setup) -> None:
    wf = ecommerce.build(setup.app)
    ctx = asyncio.run(wf.run())
    assert ctx == {
        "order_id": "order_001",
        "validate_order": "Validated order details",
        "charge_credit_card": "Transaction ID: 123456",
        "notify_warehouse": None,
        "notify_shipping": None,
        "notifications": [None, None],
        "log_transaction": None,  # exit steps ran, after the normal ones
        "cleanup": None,
    }
    assert "normal_error" not in ctx
    assert "handle_error" not in ctx


def test_dependency_injection(setup: Setup) -> None:
    flow = dependency_injection.EcommerceWorkflow(payment_gateway="mock", app=setup.app)
    ctx: dict[str, Any] = flow.run()
    assert ctx["charge_credit_card"] == "Mock Transaction ID: 123456"


def test_several_workflows_share_one_default_app(setup: Setup) -> None:
    first, second = web_scraping.build(setup.app), infrastructure.build(setup.app)

    async def both() -> list[dict[str, Any]]:
        return list(await asyncio.gather(first.run(), second.run()))

    a, b = asyncio.run(both())
    assert a["process_data"] == "fetched data processed"
    assert b["create_vm"] == "vm123"
    assert first.workflow_id != second.workflow_id
