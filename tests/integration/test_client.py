"""The client side, on the embedded App and on real Redis worker processes.

Idempotency keys, explicit workflow ids, delayed starts, ``app.handle``, ``app.run`` and
``handle.result(timeout)``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.harness import RESULT_TIMEOUT, Deployment, token
from wfcore import WorkflowStatus
from wfcore.errors import WorkflowNotFoundError


def test_the_same_idempotency_key_returns_the_same_workflow(deployment: Deployment) -> None:
    # Given a task and an idempotency key
    s, ledger, tok = deployment.s, deployment.ledger, token()

    # When it is started twice with that key, and again once the first one finished
    first = s.once.send_with_options(args=(tok,), idempotency_key=f"order-{tok}")
    second = s.once.send_with_options(args=(tok,), idempotency_key=f"order-{tok}")
    result = first.result(timeout=RESULT_TIMEOUT)
    third = s.once.send_with_options(args=(tok,), idempotency_key=f"order-{tok}")

    # Then every start named the same workflow, which ran once
    assert first.workflow_id == second.workflow_id == third.workflow_id
    assert second.result(timeout=RESULT_TIMEOUT) == third.result(timeout=1) == result
    assert ledger.count(f"{tok}.once") == 1
    # And another key is another workflow
    other = s.once.send_with_options(args=(tok,), idempotency_key=f"other-{tok}")
    assert other.workflow_id != first.workflow_id
    other.result(timeout=RESULT_TIMEOUT)


def test_concurrent_starts_with_one_key_make_one_workflow(deployment: Deployment) -> None:
    # Given eight clients racing to start the same keyed workflow
    s, ledger, tok = deployment.s, deployment.ledger, token()

    def start_once(_: int) -> str:
        return s.once.send_with_options(args=(tok,), idempotency_key=f"race-{tok}").workflow_id

    # When they all start it at once
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = set(pool.map(start_once, range(8)))

    # Then they all got the same workflow, which ran once
    assert len(ids) == 1
    deployment.app.handle(ids.pop()).result(timeout=RESULT_TIMEOUT)
    assert ledger.count(f"{tok}.once") == 1


def test_an_explicit_workflow_id_is_used_and_idempotent(deployment: Deployment) -> None:
    # Given an id chosen by the caller
    s, ledger, tok = deployment.s, deployment.ledger, token()
    workflow_id = f"order-{tok}"

    # When the workflow is started with it, twice
    handle = s.once.send_with_options(args=(tok,), workflow_id=workflow_id)
    again = s.once.send_with_options(args=(tok,), workflow_id=workflow_id)
    result = handle.result(timeout=RESULT_TIMEOUT)

    # Then the workflow has that id, and it ran once
    assert handle.workflow_id == again.workflow_id == workflow_id
    assert result["workflow_id"] == workflow_id
    assert handle.identity.workflow_type == "once"
    assert ledger.count(f"{tok}.once") == 1


def test_a_delayed_start_is_postponed(deployment: Deployment) -> None:
    # Given a start delayed by half a second
    s, tok = deployment.s, token()
    sent_at = datetime.now(UTC)

    # When it is sent
    handle = s.once.send_with_options(args=(tok,), delay=0.5)

    # Then it waits before it runs, then runs
    assert handle.status() is WorkflowStatus.PENDING
    result = handle.result(timeout=RESULT_TIMEOUT)
    assert result["started_at"] - sent_at >= timedelta(seconds=0.49)


def test_app_handle_finds_a_workflow_and_rejects_an_unknown_id(deployment: Deployment) -> None:
    # Given a finished workflow
    s, app = deployment.s, deployment.app
    result = s.once.send_with_options(args=(token(),)).result(timeout=RESULT_TIMEOUT)

    # When it is looked up by id, and an unknown id is looked up
    handle = app.handle(result["workflow_id"])

    # Then the handle gives its status and result; the unknown id is a clear error
    assert handle.status() is WorkflowStatus.COMPLETED
    assert handle.result(timeout=1) == result
    with pytest.raises(WorkflowNotFoundError, match="no-such-workflow"):
        app.handle("no-such-workflow")


def test_result_times_out_on_a_slow_workflow_then_returns(deployment: Deployment) -> None:
    # Given a workflow that runs until the test releases it
    s, ledger, tok = deployment.s, deployment.ledger, token()
    handle = s.slow.send_with_options(args=(tok,))
    try:
        # When the client waits for 0.1 s only
        # Then it gets TimeoutError while the workflow still runs
        with pytest.raises(TimeoutError, match=handle.workflow_id):
            handle.result(timeout=0.1)
        assert not handle.status().finished
    finally:
        ledger.touch(f"{tok}.release")
    # And once released, the same handle returns the result
    assert handle.result(timeout=RESULT_TIMEOUT) == "released"


def test_app_run_starts_and_waits(deployment: Deployment) -> None:
    # Given a task with a child
    s, app = deployment.s, deployment.app

    # When it is run with app.run
    result = app.run(s.recorder, token())

    # Then the caller gets the workflow's return value
    assert result == {"child": 49}
