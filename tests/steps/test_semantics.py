"""Scopes, failures, retries, timeouts, cont_on_err and parallel steps, on the embedded
default App and on a real worker over Redis: what a caller of ``await wf.run()`` sees."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.apps import steps_flows as f
from tests.integration.apps.ledger import Ledger
from tests.steps.conftest import Setup
from wfcore.steps import StepFailedError, Workflow


def _ran(setup: Setup, token: str) -> list[str]:
    return list(Ledger(setup.ledger).read(f"ran-{token}"))


def test_a_failure_runs_error_and_exit_steps_then_raises(setup: Setup) -> None:
    ctx = setup.ctx()
    wf = f.failing_workflow(ctx, setup.app)
    with pytest.raises(StepFailedError) as caught:
        asyncio.run(wf.run())
    error = caught.value
    assert (error.step, error.error_type, error.error_message) == (
        "decline",
        "ValueError",
        "card declined",
    )
    # the steps after the failure did not run; the handler and the exit step did, in order
    assert _ran(setup, ctx["token"]) == ["reserve", "decline", "apologise", "release_lock"]
    assert error.ctx is ctx  # the caller's ctx holds the final state
    assert ctx["normal_error"] == {
        "step": "decline",
        "error": "card declined",
        "type": "ValueError",
    }
    assert ctx["apologise"] == "sorry: card declined"
    assert ctx["release_lock"] is False  # not a cancellation
    assert "never" not in ctx


def test_retries_with_backoff_then_success(setup: Setup) -> None:
    ctx = setup.ctx(fail_times=2)
    wf = Workflow(ctx=ctx, app=setup.app, retry_backoff=0.05)
    wf.add_step(f.flaky, retries=2)
    assert asyncio.run(wf.run())["flaky"] == "ok after 3"


def test_retries_exhausted_fail_the_run(setup: Setup) -> None:
    ctx = setup.ctx(fail_times=5)
    wf = Workflow(ctx=ctx, app=setup.app, retry_backoff=0.05)
    wf.add_step(f.flaky, retries=1)
    with pytest.raises(StepFailedError, match="attempt 2 failed"):
        asyncio.run(wf.run())
    assert Ledger(setup.ledger).count(f"flaky-{ctx['token']}") == 2  # first try + 1 retry


def test_an_async_step_past_its_timeout_fails(setup: Setup) -> None:
    ctx = setup.ctx()
    wf = Workflow(ctx=ctx, app=setup.app)
    wf.add_step(f.slow_async, timeout=0.2)
    wf.add_error_step(f.apologise)
    with pytest.raises(StepFailedError) as caught:
        asyncio.run(wf.run())
    assert caught.value.error_type == "wfcore.steps.errors.StepTimeoutError"
    assert ctx["apologise"] == "sorry: step 'slow_async' did not finish within 0.2 s"


def test_a_sync_step_past_its_timeout_fails(setup: Setup) -> None:
    wf = Workflow(ctx=setup.ctx(), app=setup.app)
    wf.add_step(f.slow_sync, timeout=0.2)
    with pytest.raises(StepFailedError, match=r"did not finish within 0\.2 s"):
        asyncio.run(wf.run())


def test_cont_on_err_goes_on_without_error_steps(setup: Setup) -> None:
    ctx = setup.ctx()
    wf = Workflow(ctx=ctx, app=setup.app)
    wf.add_step(f.optional, cont_on_err=True)
    wf.add_step(f.tally)
    wf.add_error_step(f.apologise)
    asyncio.run(wf.run())
    assert ctx["tally"] == 3
    assert ctx["tallied"] is True
    assert "optional" not in ctx
    assert "normal_error" not in ctx
    assert _ran(setup, ctx["token"]) == ["optional"]


def test_a_parallel_step_retries_only_its_failed_branch(setup: Setup) -> None:
    ctx = setup.ctx(fail_times=1)
    wf = Workflow(ctx=ctx, app=setup.app, retry_backoff=0.05)
    wf.add_parallel_steps([f.count_a, f.flaky_branch], name="pair", retries=1)
    asyncio.run(wf.run())
    assert ctx["pair"] == ["A", "ok after 2"]
    assert ctx["a_seen"] is True
    assert _ran(setup, ctx["token"]) == ["count_a"]  # the branch that succeeded ran once


def test_a_failed_parallel_branch_names_the_step_and_branch(setup: Setup) -> None:
    ctx = setup.ctx(fail_times=9)
    wf = Workflow(ctx=ctx, app=setup.app)
    wf.add_parallel_steps([f.count_a, f.flaky_branch], name="pair")
    wf.add_error_step(f.apologise)
    with pytest.raises(StepFailedError):
        asyncio.run(wf.run())
    assert ctx["normal_error"]["step"] == "pair"
    assert ctx["normal_error"]["branch"] == "flaky_branch"


def test_parallel_steps_run_concurrently(setup: Setup) -> None:
    # Each branch waits for the other's start: sequential execution would time out.
    ctx = setup.ctx()
    wf = Workflow(ctx=ctx, app=setup.app)
    wf.add_parallel_steps([f.meet_left, f.meet_right], name="meet", timeout=10)
    assert asyncio.run(wf.run())["meet"] == ["left", "right"]
