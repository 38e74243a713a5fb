"""``wfcore.steps`` workflows for behaviour tests: every step writes to the side-effect
ledger (``ctx["ledger"]``, journals named after ``ctx["token"]``), so tests count executions
across worker processes, and a step can wait for a marker the test sets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from dramatiq.brokers.redis import RedisBroker

from tests.integration.apps.ledger import Ledger
from tests.integration.apps.steps_seed import MODULES
from wfcore.steps import Workflow
from wfcore_dramatiq import App

__all__ = ["BUILDERS", "build_steps_app", "ran"]


def _ledger(ctx: dict[str, Any]) -> Ledger:
    return Ledger(ctx["ledger"])


def ran(ctx: dict[str, Any], step: str) -> None:
    """Note that ``step`` ran (journal ``ran-<token>``)."""
    _ledger(ctx).append(f"ran-{ctx['token']}", step)


async def _wait_for(ctx: dict[str, Any], marker: str, limit: float = 30.0) -> None:
    ledger, deadline = _ledger(ctx), time.monotonic() + limit
    while not ledger.exists(f"{marker}-{ctx['token']}"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"marker {marker!r} never came")
        await asyncio.sleep(0.02)


# -- a workflow a worker is killed in --------------------------------------------------------


async def reserve(ctx: dict[str, Any]) -> str:
    ran(ctx, "reserve")
    return "R-1"


async def charge(ctx: dict[str, Any]) -> str:
    ran(ctx, "charge")  # started; the test kills the worker here, then releases
    await _wait_for(ctx, "release")
    ctx["charged"] = True
    return f"paid {ctx['reserve']}"


def ship(ctx: dict[str, Any]) -> str:
    ran(ctx, "ship")
    return "shipped"


async def receipt(ctx: dict[str, Any]) -> None:
    ran(ctx, "receipt")


def crash_workflow(ctx: dict[str, Any], app: App | None = None) -> Workflow:
    wf = Workflow(ctx=ctx, app=app, name="crash")
    wf.add_step(reserve)
    wf.add_step(charge)
    wf.add_step(ship)
    wf.add_exit_step(receipt)
    return wf


# -- cancellation ----------------------------------------------------------------------------


async def wait_for_cancel(ctx: dict[str, Any]) -> None:
    ran(ctx, "wait_for_cancel")
    await _wait_for(ctx, "release")


async def never(ctx: dict[str, Any]) -> None:
    ran(ctx, "never")


async def on_error(ctx: dict[str, Any]) -> None:
    ran(ctx, "on_error")


async def release_lock(ctx: dict[str, Any]) -> bool:
    ran(ctx, "release_lock")
    return bool(ctx.get("cancelled"))


def log_run(ctx: dict[str, Any]) -> list[str]:
    ran(ctx, "log_run")
    return sorted(k for k in ctx if k not in ("ledger", "token"))


def cancel_workflow(ctx: dict[str, Any], app: App | None = None) -> Workflow:
    wf = Workflow(ctx=ctx, app=app, name="cancel")
    wf.add_step(reserve)
    wf.add_step(wait_for_cancel)
    wf.add_step(never)
    wf.add_error_step(on_error)
    wf.add_exit_step(release_lock)
    wf.add_exit_step(log_run)
    return wf


# -- failures, retries, timeouts, cont_on_err, parallel ----------------------------------------


async def decline(ctx: dict[str, Any]) -> None:
    ran(ctx, "decline")
    raise ValueError("card declined")


async def apologise(ctx: dict[str, Any]) -> str:
    ran(ctx, "apologise")
    return f"sorry: {ctx['normal_error']['error']}"


def failing_workflow(ctx: dict[str, Any], app: App | None = None) -> Workflow:
    wf = Workflow(ctx=ctx, app=app, name="failing")
    wf.add_step(reserve)
    wf.add_step(decline)
    wf.add_step(never)
    wf.add_error_step(apologise)
    wf.add_exit_step(release_lock)
    return wf


async def flaky(ctx: dict[str, Any]) -> str:
    """Fails until it has run ``ctx["fail_times"] + 1`` times."""
    ledger, journal = _ledger(ctx), f"flaky-{ctx['token']}"
    ledger.append(journal)
    attempts = ledger.count(journal)
    if attempts <= ctx["fail_times"]:
        raise ConnectionError(f"attempt {attempts} failed")
    return f"ok after {attempts}"


async def slow_async(ctx: dict[str, Any]) -> str:
    ran(ctx, "slow_async")
    await asyncio.sleep(10)
    return "too late"


def slow_sync(ctx: dict[str, Any]) -> str:
    ran(ctx, "slow_sync")
    time.sleep(2)
    return "too late"


def optional(ctx: dict[str, Any]) -> None:
    ran(ctx, "optional")
    raise KeyError("no coupon")


def tally(ctx: dict[str, Any]) -> int:
    ctx["tallied"] = True
    return 3


async def count_a(ctx: dict[str, Any]) -> str:
    ran(ctx, "count_a")
    ctx["a_seen"] = True
    return "A"


async def flaky_branch(ctx: dict[str, Any]) -> str:
    return await flaky(ctx)


BUILDERS = (crash_workflow, cancel_workflow, failing_workflow)


def register_all(app: App) -> None:
    """Build every test workflow on ``app``, as a worker must to know their steps."""
    ctx: dict[str, Any] = {}
    for module in MODULES:
        module.build(app)
    for build in BUILDERS:
        build(ctx, app)
    extra = Workflow(app=app)
    extra.add_step(flaky)
    extra.add_step(slow_async)
    extra.add_step(slow_sync)
    extra.add_step(optional)
    extra.add_step(tally)
    extra.add_parallel_steps([count_a, flaky_branch], name="pair")
    extra.add_parallel_steps([meet_left, meet_right], name="meet")


def build_steps_app(env: Mapping[str, str]) -> App:
    """The App of a real-worker deployment, with every steps workflow registered.

    The RedisBroker redelivers a dead worker's messages after 2 s and sweeps run every
    0.5 s for invocations idle 1 s, so a SIGKILLed worker's run resumes within seconds.
    """
    broker = RedisBroker(  # type: ignore[no-untyped-call]
        url=env["WFCORE_IT_BROKER_URL"],
        namespace=env["WFCORE_IT_NAMESPACE"],
        heartbeat_timeout=2000,
        maintenance_chance=1_000_000,
    )
    app = App(
        broker=broker, store=env["WFCORE_IT_STORE_URL"], recovery_interval=0.5, stale_after=1.0
    )
    register_all(app)
    return app


async def meet_left(ctx: dict[str, Any]) -> str:
    _ledger(ctx).touch(f"left-{ctx['token']}")
    await _wait_for(ctx, "right", limit=5)
    return "left"


async def meet_right(ctx: dict[str, Any]) -> str:
    _ledger(ctx).touch(f"right-{ctx['token']}")
    await _wait_for(ctx, "left", limit=5)
    return "right"
