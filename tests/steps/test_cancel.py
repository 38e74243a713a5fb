"""``wf.cancel()``: the EXIT steps run (st-workflow skipped them), nothing NORMAL or ERROR
runs after it, and ``run()`` raises ``WorkflowCancelledError``."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.integration.apps import steps_flows as f
from tests.integration.apps.ledger import Ledger
from tests.steps.conftest import Setup
from wfcore.steps import WorkflowCancelledError


def test_cancel_mid_step_runs_the_exit_steps_and_raises(setup: Setup) -> None:
    ctx = setup.ctx()
    ledger, token = Ledger(setup.ledger), ctx["token"]
    wf = f.cancel_workflow(ctx, setup.app)

    async def scenario() -> None:
        run = asyncio.create_task(wf.run())
        deadline = time.monotonic() + 30
        while "wait_for_cancel" not in ledger.read(f"ran-{token}"):
            assert time.monotonic() < deadline
            assert not run.done()
            await asyncio.sleep(0.02)
        assert wf.cancel() is True
        with pytest.raises(WorkflowCancelledError):
            await run

    try:
        asyncio.run(scenario())
    finally:
        ledger.touch(f"release-{token}")  # the step in flight was not waited for: end it
    assert ledger.read(f"ran-{token}") == ["reserve", "wait_for_cancel", "release_lock", "log_run"]
    assert ctx["cancelled"] is True
    assert ctx["release_lock"] is True  # exit steps see the cancellation in ctx
    assert ctx["log_run"] == ["cancelled", "release_lock", "reserve"]
    assert wf.cancel() is False  # finished: nothing left to cancel


def test_cancel_before_run_starts_nothing(setup: Setup) -> None:
    ctx = setup.ctx()
    wf = f.cancel_workflow(ctx, setup.app)
    assert wf.cancel() is True
    with pytest.raises(WorkflowCancelledError, match="before it started"):
        asyncio.run(wf.run())
    assert wf.workflow_id is None
    assert Ledger(setup.ledger).read(f"ran-{ctx['token']}") == []
