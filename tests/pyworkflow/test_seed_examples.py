"""Every example of the PyWorkflow seed README, run as its code is written (only its import
line changed, and the App's decorators as the "app=" of a distributed run), on an embedded
App and on a real ``dramatiq`` worker over Redis. Sleeps end when the test moves the clock."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from tests.pyworkflow.conftest import PySetup, pending_sleeps
from wfcore import WorkflowFailedError
from wfcore.pyworkflow import EventType, events


def _token() -> str:
    return uuid.uuid4().hex[:10]


def _types(setup: PySetup, run_id: str) -> list[EventType]:
    return [e.type for e in events(setup.app.handle(run_id).history())]


def test_first_workflow_sleeps_one_day_and_resumes(setup: PySetup) -> None:
    # Given the onboarding workflow, started as the README does
    user = f"user_{_token()}"
    run_id = setup.app.start(setup.seeds.onboarding_workflow, user_id=user)

    # When it reaches its one-day sleep
    history = setup.wait_until_sleeping(run_id)

    # Then it is suspended (no worker held) after the welcome email, until a day has passed
    (fire_at,) = pending_sleeps(history)
    assert fire_at == pytest.approx(setup.clock() + 86400, abs=30)
    time.sleep(0.3)
    assert setup.app.handle(run_id).status().value == "SUSPENDED"
    assert setup.seeds.ledger.read(f"mail-{user}") == ["welcome"]

    # When the day has passed, it resumes and sends the tips
    assert setup.finish(run_id) == "Onboarding complete"
    assert setup.seeds.ledger.read(f"mail-{user}")[-1] == "tips"
    types = _types(setup, run_id)
    assert types.count(EventType.STEP_COMPLETED) == 2
    assert EventType.SLEEP_CREATED in types
    assert EventType.SLEEP_COMPLETED in types
    assert types[0] is EventType.WORKFLOW_STARTED
    assert EventType.WORKFLOW_COMPLETED in types
    assert setup.app.verify_replay(run_id).ok


def test_process_order_runs_its_steps_in_order(setup: PySetup) -> None:
    order = f"ORD-{_token()}"
    run_id = setup.app.start(setup.seeds.process_order, order_id=order)
    assert setup.finish(run_id) == {"order_id": order, "status": "completed"}
    handle = setup.app.handle(run_id)
    assert handle.identity.workflow_type == "process_order"
    steps = [e.step_name for e in events(handle.history()) if e.type is EventType.STEP_COMPLETED]
    assert steps == ["validate_order", "process_payment", "create_shipment", "send_confirmation"]


def test_step_fatal_error_is_not_retried(setup: PySetup) -> None:
    key = _token()
    run_id = setup.app.start(setup.seeds.fetch_json, f"https://api.test/missing/{key}")
    with pytest.raises(WorkflowFailedError, match="Resource not found"):
        setup.finish(run_id)
    assert setup.seeds.ledger.count(f"http-{key}") == 1  # max_retries=5, but fatal
    assert EventType.STEP_RETRYING not in _types(setup, run_id)


def test_step_retryable_error_is_retried_with_backoff(setup: PySetup) -> None:
    # Given an API call whose first attempt loses the connection
    key = _token()
    run_id = setup.app.start(setup.seeds.fetch_json, f"https://api.test/flaky/{key}")

    # Then the step is retried (after ~1 s: exponential) and the run completes
    assert setup.finish(run_id) == {"url": f"https://api.test/flaky/{key}"}
    assert setup.seeds.ledger.count(f"http-{key}") == 2
    retried = [e for e in events(setup.app.handle(run_id).history()) if e.type == "step_retrying"]
    assert len(retried) == 1
    assert "Network error" in retried[0].data


def test_scheduled_reminder_sleeps_an_hour_a_day_and_a_week(setup: PySetup) -> None:
    user = f"user_{_token()}"
    run_id = setup.app.start(setup.seeds.scheduled_reminder, user)
    started = setup.clock()
    assert setup.finish(run_id) == "All reminders sent"
    assert setup.seeds.ledger.read(f"reminders-{user}") == [
        "immediate",
        "1 hour later",
        "1 day later",
        "1 week later",
    ]
    sleeps = [e for e in setup.app.handle(run_id).history() if e.kind == "sleep"]
    assert [round((float(e.value) - started) / 3600) for e in sleeps] == [1, 1 + 24, 1 + 24 + 168]


def test_dashboard_gathers_three_steps_in_parallel(setup: PySetup) -> None:
    run_id = setup.app.start(setup.seeds.dashboard_data, "u-1")
    assert setup.finish(run_id) == {
        "user": {"id": "u-1", "name": "Alice"},
        "orders": [{"id": "ORD-1"}, {"id": "ORD-2"}],
        "recommendations": ["Product A", "Product B"],
    }
    # All three children were started before the body waited for any of them
    root = [e for e in setup.app.handle(run_id).history() if e.invocation_id == run_id]
    ops = [e.kind for e in root if e.seq is not None]
    assert ops[:3] == ["start_task"] * 3
    assert ops[3] == "resumed"


def test_payment_insufficient_funds_is_fatal(setup: PySetup) -> None:
    amount = 100 + int(_token()[:6], 16) % 10_000 / 10_000
    run_id = setup.app.start(setup.seeds.charge, amount)
    with pytest.raises(WorkflowFailedError, match="Insufficient funds"):
        setup.finish(run_id)
    assert setup.seeds.ledger.count(f"charge-{amount:.4f}") == 1


def test_payment_unknown_error_is_retried(setup: PySetup) -> None:
    amount = 300 + int(_token()[:6], 16) % 10_000 / 10_000
    run_id = setup.app.start(setup.seeds.charge, amount)
    assert setup.finish(run_id) == {"charged": amount}
    assert setup.seeds.ledger.count(f"charge-{amount:.4f}") == 2
    retried = [e for e in events(setup.app.handle(run_id).history()) if e.type == "step_retrying"]
    assert [e.step_name for e in retried] == ["process_payment"]
    assert "Unknown error: 'gateway sent garbage'" in retried[0].data


def test_idempotency_key_returns_the_same_run(setup: PySetup) -> None:
    key = f"order-{_token()}"
    run_id_1 = setup.app.start(setup.seeds.process_order, order_id="ORD-123", idempotency_key=key)
    run_id_2 = setup.app.start(setup.seeds.process_order, order_id="ORD-123", idempotency_key=key)
    assert run_id_1 == run_id_2
    setup.finish(run_id_1)
    assert _types(setup, run_id_1).count(EventType.WORKFLOW_COMPLETED) == 1
    assert setup.app.start(setup.seeds.process_order, "ORD-123", idempotency_key=key) == run_id_1


def test_logs_carry_the_run_context(setup: PySetup, tmp_path: Path) -> None:
    # Given the README's configure_logging (the Redis worker calls it at start-up; here the
    # embedded App's process does) and a workflow whose step logs
    if setup.kind == "embedded":
        from wfcore import configure_logging

        log_file = str(tmp_path / "workflow.log")
        handler = configure_logging(level="INFO", log_file=log_file, json_logs=True)
    else:
        assert setup.log_file is not None
        log_file, handler = str(setup.log_file), None
    try:
        run_id = setup.app.start(setup.seeds.fetch_json, f"https://api.test/flaky/{_token()}")
        setup.finish(run_id)
    finally:
        if handler is not None:
            import logging

            logging.getLogger().removeHandler(handler)
            handler.close()
    # Then what the step logged (the fake httpx's GET line) names the run, the workflow and
    # the step, in every attempt
    with open(log_file) as f:
        lines = [json.loads(line) for line in f if run_id in line]
    gets = [r for r in lines if r["logger"] == "tests.httpx"]
    assert len(gets) == 2, lines
    for record in gets:
        assert record["run_id"] == run_id
        assert record["workflow_name"] == "fetch_json"
        assert record["step_name"] == "call_external_api"
        assert record["step_id"] not in (None, run_id)
