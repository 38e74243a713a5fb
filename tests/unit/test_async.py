"""Async tasks: workflow bodies on the deterministic loop, plain async tasks on a real loop."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from wfcore import LocalRunner, Replayer, RunStatus
from wfcore._export import export_history, import_history
from wfcore._models import WorkflowStatus
from wfcore.errors import ConfigurationError, WorkflowCancelled, WorkflowFailedError


def _runner() -> LocalRunner:
    return LocalRunner()


def _resumes(runner: LocalRunner, workflow_id: str, task_name: str) -> int:
    return sum(
        1
        for e in runner.engine.history(workflow_id)
        if e.kind == "task_resumed" and e.task_name == task_name
    )


def _verify(runner: LocalRunner, workflow_id: str) -> None:
    result = Replayer(runner._lookup).replay(runner.store, workflow_id)
    assert result.ok, result.divergence


def _starts(runner: LocalRunner, workflow_id: str) -> list[tuple[int | None, Any]]:
    return [
        (e.seq, e.value[0] if isinstance(e.value, list) else None)
        for e in runner.engine.history(workflow_id)
        if e.kind == "start_task"
    ]


def test_an_async_workflow_runs_children_steps_timers_and_signals_and_replays() -> None:
    runner = _runner()

    @runner.task
    async def fetch(path: str) -> str:  # a plain async task: real event loop
        await asyncio.sleep(0)
        return f"got {path}"

    @runner.task
    def shout(text: str) -> str:
        return text.upper()

    async def issue_token(user: str) -> str:
        await asyncio.sleep(0.001)  # real I/O would go here: it runs on a real loop, once
        return f"token-{user}"

    @runner.task(workflow=True)
    async def dashboard(user: str) -> dict[str, Any]:
        wf = dashboard.wf
        draw = wf.random()
        wf.set_data("user", user)
        first = await wf.execute_task(fetch, f"/users/{user}")
        orders, recs = await asyncio.gather(
            wf.execute_task(fetch, "/orders"), wf.execute_task(shout, "recs")
        )
        token = await wf.deterministic("token", issue_token, user)
        await wf.sleep("1h")
        approval = await wf.wait_signal("approval", timeout="2d", default="none")
        return {
            "draw": draw,
            "first": first.result,
            "orders": orders.result,
            "recs": recs.result,
            "token": token,
            "approval": approval,
        }

    workflow_id = runner.start(dashboard, "ada")
    runner.run_until_idle()
    value = runner.engine.result(workflow_id)
    assert value["first"] == "got /users/ada"
    assert (value["orders"], value["recs"], value["token"]) == ("got /orders", "RECS", "token-ada")
    assert value["approval"] == "none"  # the 2-day timeout passed on the runner's clock
    _verify(runner, workflow_id)


def test_a_signal_is_awaited_and_delivered() -> None:
    runner = _runner()

    @runner.task(workflow=True)
    async def approve() -> Any:
        return await approve.wf.wait_signal("ok")

    workflow_id = runner.start(approve)
    runner.run_until_idle()
    _verify(runner, workflow_id)  # a suspended async body verifies up to where it waits
    runner.signal(workflow_id, "ok", {"by": "bob"})
    runner.run_until_idle()
    assert runner.engine.result(workflow_id) == {"by": "bob"}
    _verify(runner, workflow_id)


def _fan_out_runner() -> tuple[LocalRunner, Any]:
    runner = _runner()

    @runner.task
    def leaf(i: int) -> int:
        return i

    @runner.task(workflow=True)
    async def fan() -> list[int]:
        wf = fan.wf

        async def branch(i: int) -> int:
            first = await wf.execute_task(leaf, i)
            second = await wf.execute_task(leaf, first.result * 10)
            return int(second.result)

        tasks = [asyncio.create_task(branch(i)) for i in range(3)]
        gathered = await asyncio.gather(*[wf.execute_task(leaf, 100 + i) for i in range(3)])
        done, _ = await asyncio.wait(tasks)
        return sorted(t.result() for t in done) + [g.result for g in gathered]

    return runner, fan


def test_gather_create_task_and_wait_order_is_stable_across_100_replays() -> None:
    runner, fan = _fan_out_runner()
    workflow_id = runner.start(fan)
    runner.run_until_idle()
    assert runner.engine.result(workflow_id) == [0, 10, 20, 100, 101, 102]
    positions = _starts(runner, workflow_id)
    # create_task's branches start first (in creation order), then gather's children
    assert [seq for seq, _ in positions[:6]] == [0, 1, 2, 3, 4, 5]
    replayer = Replayer(runner._lookup)
    for _ in range(100):
        result = replayer.replay(runner.store, workflow_id)
        assert result.ok, result.divergence
    assert _starts(runner, workflow_id) == positions
    # A second, independent run records the same positions for the same tasks
    again, fan2 = _fan_out_runner()
    other = again.start(fan2)
    again.run_until_idle()
    names = [
        e.name for e in runner.engine.history(workflow_id) if e.kind in ("start_task", "resumed")
    ]
    assert names == [
        e.name for e in again.engine.history(other) if e.kind in ("start_task", "resumed")
    ]


def test_gather_over_children_finishing_together_resumes_once() -> None:
    runner = _runner()

    @runner.task
    def leaf(i: int) -> int:
        return i

    @runner.task(workflow=True)
    async def join(n: int) -> int:
        results = await asyncio.gather(*[join.wf.execute_task(leaf, i) for i in range(n)])
        return sum(r.result for r in results)

    workflow_id = runner.start(join, 50)
    runner.run_until_idle()
    assert runner.engine.result(workflow_id) == sum(range(50))
    # The children all finished before the parent's wake-up ran: one resume, not fifty.
    assert _resumes(runner, workflow_id, join.spec.name) == 1


def test_wait_first_completed_resumes_on_the_first() -> None:
    runner = _runner()

    @runner.task(force_new_workflow=True)
    async def slow() -> str:
        await slow.wf.wait_signal("never")
        return "slow"

    @runner.task
    def fast() -> str:
        return "fast"

    @runner.task(workflow=True)
    async def race() -> str:
        wf = race.wf
        pending = {
            asyncio.ensure_future(wf.execute_task(slow)),
            asyncio.ensure_future(wf.execute_task(fast)),
        }
        done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        return str(done.pop().result().result)

    workflow_id = runner.start(race)
    runner.run_until_idle()
    assert runner.engine.result(workflow_id) == "fast"  # the slow child is still waiting
    _verify(runner, workflow_id)


def test_wait_for_times_out_on_a_durable_timer() -> None:
    runner = _runner()

    @runner.task(workflow=True)
    async def impatient() -> str:
        try:
            await asyncio.wait_for(impatient.wf.wait_signal("late"), timeout=3600)
        except TimeoutError:
            return "timed out"
        return "signalled"

    workflow_id = runner.start(impatient)
    runner.run_until_idle()  # the runner jumps its clock to the timer
    assert runner.engine.result(workflow_id) == "timed out"
    _verify(runner, workflow_id)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("sleep", r"asyncio\.sleep\(5\).*wf\.sleep"),
        ("socket", r"loop\.create_connection\(\) \(real I/O\).*wf\.deterministic"),
        ("executor", r"loop\.run_in_executor\(\)"),
    ],
)
def test_real_time_and_io_in_a_body_fail_with_what_to_use_instead(body: str, says: str) -> None:
    runner = _runner()

    @runner.task(workflow=True)
    async def bad() -> None:
        if body == "sleep":
            await asyncio.sleep(5)
        elif body == "socket":
            await asyncio.open_connection("127.0.0.1", 9)
        else:
            await asyncio.get_running_loop().run_in_executor(None, print)

    workflow_id = runner.start(bad)
    runner.run_until_idle()
    with pytest.raises(WorkflowFailedError, match=says):
        runner.engine.result(workflow_id)


def test_swallowing_the_refusal_does_not_hide_it() -> None:
    runner = _runner()

    @runner.task(workflow=True)
    async def sly() -> str:
        with contextlib.suppress(Exception):
            await asyncio.sleep(1)
        return "done"

    workflow_id = runner.start(sly)
    runner.run_until_idle()
    with pytest.raises(WorkflowFailedError, match=r"asyncio\.sleep"):
        runner.engine.result(workflow_id)


def test_a_body_waiting_on_nothing_a_wf_operation_resolves_fails_clearly() -> None:
    runner = _runner()

    @runner.task(workflow=True)
    async def stuck() -> None:
        await asyncio.Event().wait()

    workflow_id = runner.start(stuck)
    runner.run_until_idle()
    with pytest.raises(WorkflowFailedError, match="on nothing a wf operation resolves"):
        runner.engine.result(workflow_id)


def test_a_plain_async_task_cannot_await_wf_waits() -> None:
    runner = _runner()

    @runner.task
    def child() -> int:
        return 1

    @runner.task
    async def plain() -> Any:
        return await plain.wf.execute_task(child)

    workflow_id = runner.start(plain)
    runner.run_until_idle()
    with pytest.raises(WorkflowFailedError, match=r"plain async task.*workflow=True"):
        runner.engine.result(workflow_id)
    # Nothing was recorded before the refusal: no child was started
    assert _starts(runner, workflow_id) == []


def test_a_plain_async_task_does_real_io_and_plain_wf_calls() -> None:
    runner = _runner()

    @runner.task
    async def plain(key: str) -> dict[str, Any]:
        wf = plain.wf
        wf.set_data("key", key)  # non-waiting operations work here
        draw = wf.random()
        echoed = await _echo_roundtrip()  # real I/O on a real event loop
        with pytest.raises(ConfigurationError, match="plain async task"):
            wf.deterministic("step", lambda: 1)  # a wait: refused, nothing recorded
        return {"draw": draw, "echo": echoed}

    workflow_id = runner.start(plain, "k")
    runner.run_until_idle()
    value = runner.engine.result(workflow_id)
    assert value["echo"] == b"ping"
    assert 0 <= value["draw"] < 1
    _verify(runner, workflow_id)


async def _echo_roundtrip() -> bytes:
    """A TCP echo over localhost: real sockets, which a workflow body may not open."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.read(4))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping")
        data = await reader.read(4)
        writer.close()
        await writer.wait_closed()
    return data


def test_cancellation_arrives_at_the_await_and_cleanup_runs() -> None:
    runner = _runner()
    cleaned: list[str] = []

    @runner.task
    def cleanup() -> str:
        cleaned.append("yes")
        return "clean"

    @runner.task(workflow=True)
    async def waiting() -> None:
        wf = waiting.wf
        try:
            await asyncio.gather(wf.wait_signal("go"), wf.sleep("1d"))
        except WorkflowCancelled:
            await wf.execute_task(cleanup)
            raise

    workflow_id = runner.start(waiting)
    runner.step()  # it suspends on the signal and the timer
    runner.engine.cancel(workflow_id)
    runner.run_until_idle()
    record = runner.store.get_workflow(workflow_id)
    assert record is not None
    assert record.status is WorkflowStatus.CANCELLED
    assert cleaned == ["yes"]
    _verify(runner, workflow_id)


def test_sync_and_async_tasks_call_each_other() -> None:
    runner = _runner()

    @runner.task
    def double(x: int) -> int:
        return 2 * x

    @runner.task(force_new_workflow=True)
    async def async_child(x: int) -> int:
        return int((await async_child.wf.execute_task(double, x)).result) + 1

    @runner.task
    def sync_parent(x: int) -> int:
        return int(sync_parent.wf.execute_task(async_child, x).result)

    workflow_id = runner.start(sync_parent, 20)
    runner.run_until_idle()
    assert runner.engine.result(workflow_id) == 41
    _verify(runner, workflow_id)


def test_patched_and_exported_histories_replay() -> None:
    runner = _runner()

    @runner.task
    def leaf() -> str:
        return "leaf"

    @runner.task(workflow=True)
    async def versioned() -> str:
        wf = versioned.wf
        if wf.patched("new-step"):
            await wf.execute_task(leaf)
            return "new"
        return "old"

    workflow_id = runner.start(versioned)
    runner.run_until_idle()
    assert runner.engine.result(workflow_id) == "new"
    store, root = import_history(export_history(runner.store, workflow_id))
    result = Replayer(runner._lookup).replay(store, root)
    assert result.ok, result.divergence


def test_reordered_awaits_are_a_divergence() -> None:
    runner = _runner()
    order = ["a", "b"]

    @runner.task
    def leaf(name: str) -> str:
        return name

    @runner.task(workflow=True)
    async def ordered() -> list[str]:
        wf = ordered.wf
        results = await asyncio.gather(*[wf.execute_task(leaf, n) for n in order])
        return [r.result for r in results]

    workflow_id = runner.start(ordered)
    runner.run_until_idle()
    _verify(runner, workflow_id)
    # Same tasks, but now an extra operation before the wait: the replay reports where
    order.insert(0, "c")
    result = Replayer(runner._lookup).replay(runner.store, workflow_id)
    assert not result.ok
    assert result.divergence is not None


def test_a_sync_task_may_run_an_async_step() -> None:
    runner = _runner()

    async def lookup() -> int:
        await asyncio.sleep(0)
        return 7

    @runner.task
    def sync_flow() -> int:
        return int(sync_flow.wf.deterministic("lookup", lookup))

    assert runner.run(sync_flow) == 7


def test_workflow_flag_is_for_async_functions() -> None:
    runner = _runner()
    with pytest.raises(ConfigurationError, match="workflow= is for `async def` tasks"):

        @runner.task(workflow=True)
        def plain() -> None:
            return None


def test_a_body_that_suspends_and_a_run_result_is_suspended() -> None:
    runner = _runner()

    @runner.task(workflow=True)
    async def sleeper() -> str:
        await sleeper.wf.sleep(60)
        return "awake"

    workflow_id = runner.start(sleeper)
    first = runner.step()
    assert first is not None
    assert first.status is RunStatus.SUSPENDED
    runner.run_until_idle()
    assert runner.engine.result(workflow_id) == "awake"


def _failing_gather_runner() -> tuple[LocalRunner, Any, dict[str, Any]]:
    runner = _runner()
    state: dict[str, Any] = {"fail": True, "ok_runs": 0}

    @runner.task
    def flaky(x: int) -> int:
        if state["fail"]:
            raise ValueError("boom")
        return x

    @runner.task
    def steady(x: int) -> int:
        state["ok_runs"] += 1
        return x

    @runner.task(workflow=True)
    async def body() -> int:
        wf = body.wf
        first = await wf.execute_task(steady, 1)
        second, third = await asyncio.gather(wf.execute_task(flaky, 2), wf.execute_task(steady, 3))
        return int(first.result + second.result + third.result)

    return runner, body, state


def test_resume_of_an_async_body_failed_by_a_gathered_child_reruns_only_that_child() -> None:
    # Given an async body failed by one of two gathered children
    runner, body, state = _failing_gather_runner()
    workflow_id = runner.start(body)
    runner.run_until_idle()
    with pytest.raises(WorkflowFailedError, match="boom"):
        runner.engine.result(workflow_id)
    # When the child is fixed and the workflow resumed
    state["fail"] = False
    runner.engine.resume(workflow_id)
    runner.run_until_idle()
    # Then it completes; the children that had finished did not run again
    assert runner.engine.result(workflow_id) == 6
    assert state["ok_runs"] == 2
    _verify(runner, workflow_id)


def test_fork_of_an_async_body_from_its_failure() -> None:
    runner, body, state = _failing_gather_runner()
    workflow_id = runner.start(body)
    runner.run_until_idle()
    state["fail"] = False
    fork, created = runner.engine.fork(workflow_id, from_failure=True)
    assert created
    runner.run_until_idle()
    assert runner.engine.result(fork.workflow_id) == 6
    _verify(runner, fork.workflow_id)
