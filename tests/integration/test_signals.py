"""Signals from clients and workflows, on the embedded App (StubBroker) and on a real
``dramatiq`` worker process over Redis."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.integration.harness import RESULT_TIMEOUT, Deployment, start, token
from wfcore import WorkflowStatus
from wfcore.errors import EncodeError, WorkflowNotFoundError, WorkflowNotRunningError
from wfcore_dramatiq import WorkflowHandle


def test_an_approval_sent_before_the_wait_is_taken_at_once(deployment: Deployment) -> None:
    # Given an approval workflow, signalled as soon as it was sent
    s, tok = deployment.s, token()
    handle = start(s.approval, tok, 30.0)
    handle.signal("approval", {"ok": True, "by": "ana"}, signal_id=f"ticket-{tok}")
    # Then it completes with that decision
    assert handle.result(timeout=RESULT_TIMEOUT) == {"status": "approved", "by": "ana"}
    assert handle.data() == {"status": "approved"}


def test_an_approval_to_a_waiting_workflow_wakes_it_once(deployment: Deployment) -> None:
    # Given an approval workflow waiting (its status data says so)
    s, ledger, tok = deployment.s, deployment.ledger, token()
    handle = start(s.approval, tok, 60.0)
    assert handle.wait_data("status", equals="awaiting approval", timeout=RESULT_TIMEOUT)
    _wait_status(handle, WorkflowStatus.SUSPENDED)

    # When eight clients send the approval at once, four of them retries of one id
    def send(i: int) -> bool:
        signal_id = "same" if i < 4 else f"other-{i}"
        try:
            handle.signal("approval", {"ok": i % 2 == 0, "by": f"client-{i}"}, signal_id=signal_id)
        except WorkflowNotRunningError:
            return False  # it had already finished with an earlier one
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        accepted = list(pool.map(send, range(8)))
    assert any(accepted)
    # Then it took one of them, and ran exactly once more: one wake-up
    result = handle.result(timeout=RESULT_TIMEOUT)
    assert result["status"] in ("approved", "rejected")
    assert handle.wait_data("status", equals=result["status"], timeout=1) == result["status"]
    assert ledger.count(f"{tok}.approval-run") == 2


def test_an_approval_that_never_comes_expires(deployment: Deployment) -> None:
    # Given an approval workflow whose wait expires after 0.2 s
    s, tok = deployment.s, token()
    handle = start(s.approval, tok, 0.2)
    # Then it expires, and a late approval is refused naming its status
    assert handle.result(timeout=RESULT_TIMEOUT) == {"status": "expired"}
    with pytest.raises(WorkflowNotRunningError, match="COMPLETED"):
        handle.signal("approval", {"ok": True, "by": "late"})
    with pytest.raises(WorkflowNotRunningError, match="COMPLETED"):
        handle.wait_data("status", equals="approved", timeout=RESULT_TIMEOUT)


def test_signals_are_consumed_in_the_order_they_were_sent(deployment: Deployment) -> None:
    # Given a workflow that takes 50 signals one wait at a time
    app, s = deployment.app, deployment.s
    handle = start(s.drain, 50)
    # When they are sent while it runs
    for i in range(50):
        app.signal(handle.workflow_id, "n", i)
    # Then it got them all, in order
    assert handle.result(timeout=RESULT_TIMEOUT) == list(range(50))


def test_a_workflow_signals_another_exactly_once(deployment: Deployment) -> None:
    # Given a waiting approval and a workflow that approves it (and then replays)
    s, ledger, tok = deployment.s, deployment.ledger, token()
    target = start(s.approval, tok, 60.0)
    _wait_status(target, WorkflowStatus.SUSPENDED)
    sender = start(s.notify, target.workflow_id, tok)
    # Then the approval arrived once, from that workflow
    assert sender.result(timeout=RESULT_TIMEOUT) == "sent"
    assert target.result(timeout=RESULT_TIMEOUT) == {"status": "approved", "by": tok}
    assert ledger.count(f"{tok}.approval-run") == 2


def test_bad_signals_are_typed_errors(deployment: Deployment) -> None:
    app, s, tok = deployment.app, deployment.s, token()
    handle = start(s.approval, tok, 0.05)
    with pytest.raises(EncodeError, match="payload of signal 'approval'"):
        handle.signal("approval", object())
    with pytest.raises(WorkflowNotFoundError):
        app.signal(f"no-such-{tok}", "approval", {})
    assert handle.result(timeout=RESULT_TIMEOUT) == {"status": "expired"}


def _wait_status(handle: WorkflowHandle[Any], status: WorkflowStatus) -> None:
    deadline = time.monotonic() + RESULT_TIMEOUT
    while handle.status() is not status:
        assert time.monotonic() < deadline, f"never reached {status}"
        time.sleep(0.01)
