"""Type-checked only (mypy --strict): user code against the public API types well."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, assert_type

from wfcore import (
    AsyncWorkflowContext,
    HistoryEvent,
    InvocationRef,
    LocalRunner,
    ReplayResult,
    Task,
    TaskHandle,
    TaskResult,
    WorkflowContext,
    WorkflowIdentity,
    WorkflowStatus,
)
from wfcore_dramatiq import App, DramatiqTask, WorkflowHandle

if TYPE_CHECKING:
    app = App()

    @app.task
    def add(a: int, b: int) -> int:
        wf = add.wf
        assert_type(wf.random(), float)
        assert_type(wf.randint(1, 6), int)
        assert_type(wf.choice(["x", "y"]), str)
        assert_type(wf.uuid(), str)
        assert_type(wf.utc_now(), datetime)
        assert_type(wf.deterministic("n", lambda: 3), int)
        assert_type(wf.deterministic._deterministic_operation("n", lambda: "s"), str)
        assert_type(wf.get_data("k"), Any)
        assert_type(wf.start_task(add, 1, 2), TaskHandle)
        assert_type(wf.execute_task(add, 1, 2), TaskResult)
        assert_type(wf.wait(wf.start_task(add, 1, 2)), list[TaskResult])
        assert_type(add.workflow, WorkflowIdentity)
        wf.sleep("1h30m")
        wf.sleep_until(wf.utc_now())
        assert_type(wf.patched("change"), bool)
        return a + b

    typed_add: DramatiqTask[[int, int], int] = add
    assert_type(typed_add(1, 2), int)
    assert_type(add.send(1, 2), WorkflowHandle[int] | TaskHandle)
    handle = add.send_with_options(args=(1, 2), idempotency_key="k")
    assert_type(handle, WorkflowHandle[int])
    assert_type(handle.result(timeout=1), int)
    assert_type(handle.status(), WorkflowStatus)
    assert_type(app.run(add, 1, 2), int)
    assert_type(handle.cancel(), bool)
    assert_type(handle.export_history(), bytes)
    assert_type(app.verify_replay(handle.workflow_id), ReplayResult)
    assert_type(app.recover(), list[InvocationRef])
    assert_type(handle.history(), list[HistoryEvent])
    add.send(1, "2")  # type: ignore[arg-type]

    @app.task(force_new_workflow=True, max_retries=3)
    def child(name: str) -> str:
        return name

    typed_child: DramatiqTask[[str], str] = child

    runner = LocalRunner()

    @runner.task
    def local(x: str) -> bytes:
        return x.encode()

    typed_local: Task[[str], bytes] = local
    assert_type(runner.run(typed_local, "x"), bytes)
    assert_type(typed_child("n"), str)

    async def lookup(key: str) -> int:
        return len(key)

    @app.task(force_new_workflow=True)
    async def async_body(name: str) -> str:
        wf = async_body.wf
        assert_type(wf, AsyncWorkflowContext)
        assert_type(wf.random(), float)  # non-waiting operations stay plain calls
        assert_type(await wf.execute_task(add, 1, 2), TaskResult)
        assert_type(await wf.wait(wf.start_task(add, 1, 2)), list[TaskResult])
        assert_type(await wf.deterministic("n", lookup, "k"), int)
        assert_type(await wf.deterministic("s", lambda: "s"), str)
        await wf.sleep("1d")
        assert_type(await wf.wait_signal("ok", timeout="2d", default=None), Any)
        return name

    assert_type(async_body.send_with_options(args=("x",)), WorkflowHandle[str])
    assert_type(async_body.send("x"), WorkflowHandle[str] | TaskHandle)
    assert_type(app.run(async_body, "x"), str)

    @app.task
    def sync_body() -> int:
        assert_type(sync_body.wf, WorkflowContext)
        assert_type(sync_body.wf.deterministic("n", lookup, "k"), int)  # run on a real loop
        return 1


if TYPE_CHECKING:  # the PyWorkflow style (docs/styles/pyworkflow.md)
    from collections.abc import Awaitable

    import wfcore
    from wfcore.pyworkflow import StepFunction, WorkflowFunction
    from wfcore.testing import LocalRun, LocalStorage, start_local

    shop = App()

    @shop.step(max_retries=3, retry_delay="exponential")
    async def price(item: str, qty: int) -> float:
        return 1.5 * qty

    @shop.workflow(name="quote", max_duration="1h")
    async def quote(item: str) -> dict[str, float]:
        total = await price(item, 2)
        assert_type(total, float)
        await wfcore.sleep("1d")
        return {item: total}

    assert isinstance(price, StepFunction)
    assert isinstance(quote, WorkflowFunction)
    assert_type(price("tea", 1), Awaitable[float])  # outside a workflow: the coroutine
    assert_type(shop.start(quote, "tea", idempotency_key="q-1"), str)

    async def local_test() -> None:
        storage = LocalStorage()
        run_id = await start_local(quote, "tea", storage=storage)
        assert_type(await storage.get_run(run_id), LocalRun)
