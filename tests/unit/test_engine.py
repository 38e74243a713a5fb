"""The engine: outcomes of one invocation, children, failures, retries and redeliveries."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from tests.support.engines import RecordingQueue, single_task_engine
from wfcore import Engine, InvocationRef, LocalRunner, RunStatus, TaskSpec, WorkflowStatus
from wfcore._models import QueuePush, QueueReceipt
from wfcore.errors import (
    ConfigurationError,
    FatalError,
    RetryableError,
    TaskFailedError,
    WorkflowFailedError,
)
from wfcore.store.memory import MemoryStore


def test_engine_reports_completed_failed_and_suspended() -> None:
    runner = LocalRunner()

    @runner.task
    def ok() -> int:
        return 7

    @runner.task
    def boom() -> None:
        raise FatalError("no")

    @runner.task
    def waits() -> int:
        return int(waits.wf.execute_task(ok).result)

    ids = [runner.start(t) for t in (ok, boom, waits)]
    statuses = [runner.step() for _ in range(3)]
    assert [s.status for s in statuses if s] == [
        RunStatus.COMPLETED,
        RunStatus.FAILED,
        RunStatus.SUSPENDED,
    ]
    runner.run_until_idle()
    assert [runner.engine.workflow(i).status for i in ids] == [
        WorkflowStatus.COMPLETED,
        WorkflowStatus.FAILED,
        WorkflowStatus.COMPLETED,
    ]
    assert runner.engine.result(ids[2]) == 7


def test_child_failure_raises_task_failed_error_identically_on_replay() -> None:
    # Given a parent that catches its failing child, then waits on another child
    runner = LocalRunner()
    seen: list[tuple[str, str, str, bool]] = []

    @runner.task
    def charge(amount: int) -> None:
        raise ValueError(f"card declined for {amount}")

    @runner.task
    def later() -> str:
        return "later"

    @runner.task
    def flow() -> str:
        try:
            flow.wf.execute_task(charge, 5)
        except TaskFailedError as exc:
            seen.append(
                (
                    exc.task_name,
                    exc.error_type,
                    exc.error_message,
                    "raise ValueError" in exc.traceback,
                )
            )
        return str(flow.wf.execute_task(later).result)

    # When it runs (the parent is replayed twice)
    assert runner.run(flow) == "later"
    # Then each execution saw the same failure, with type, message and traceback
    assert len(seen) == 2
    assert seen[0] == seen[1]
    assert seen[0][1:] == ("ValueError", "card declined for 5", True)
    assert seen[0][0].endswith("charge")


def test_unhandled_failure_fails_the_workflow_with_details() -> None:
    runner = LocalRunner()

    @runner.task
    def flow() -> None:
        raise KeyError("missing")

    workflow_id = runner.start(flow)
    runner.run_until_idle()
    with pytest.raises(WorkflowFailedError) as info:
        runner.engine.result(workflow_id)
    assert info.value.error_type == "KeyError"
    assert "missing" in info.value.error_message
    assert 'raise KeyError("missing")' in info.value.traceback
    assert runner.engine.workflow(workflow_id).status is WorkflowStatus.FAILED


def test_retryable_failure_keeps_recorded_values_for_the_retry() -> None:
    # Given a task that draws a value, then fails on its first attempt
    drawn: list[float] = []
    attempts: list[int] = []

    def flow() -> float:
        from wfcore import current

        value = current().random()
        drawn.append(value)
        attempts.append(current().attempt)
        if len(attempts) == 1:
            raise RetryableError("try later", delay=2.5)
        return value

    engine, queue, spec = single_task_engine(flow)
    record, _ = engine.start(spec)
    # When the queue runs it, retries it, and runs it again
    first = engine.run(queue.sent[0], final_attempt=False)
    second = engine.run(queue.sent[0], final_attempt=False)
    # Then the retry replays the same value and completes
    assert (first.status, first.retry_delay) == (RunStatus.RETRY, 2.5)
    assert second.status is RunStatus.COMPLETED
    assert drawn[0] == drawn[1] == second.value
    assert attempts == [1, 2]
    assert engine.workflow(record.workflow_id).status is WorkflowStatus.COMPLETED


def test_fatal_error_is_final_even_when_retries_remain() -> None:
    def flow() -> None:
        raise FatalError("bad input")

    engine, queue, spec = single_task_engine(flow)
    engine.start(spec)
    result = engine.run(queue.sent[0], final_attempt=False)
    assert result.status is RunStatus.FAILED
    assert isinstance(result.error, FatalError)


def test_redelivered_message_of_a_finished_invocation_is_skipped() -> None:
    calls: list[int] = []

    def flow() -> int:
        calls.append(1)
        return 1

    engine, queue, spec = single_task_engine(flow)
    engine.start(spec)
    assert engine.run(queue.sent[0]).status is RunStatus.COMPLETED
    assert engine.run(queue.sent[0]).status is RunStatus.SKIPPED
    assert calls == [1]


def test_message_for_unknown_invocation_is_skipped() -> None:
    engine, _, _ = single_task_engine(lambda: None)
    assert engine.run(InvocationRef("nope", "nope", "flow")).status is RunStatus.SKIPPED


def test_wait_on_many_children_resumes_the_parent_once() -> None:
    runner = LocalRunner()
    resumes: list[int] = []

    @runner.task
    def child(i: int) -> int:
        return i * i

    @runner.task
    def fan_out(n: int) -> int:
        handles = [fan_out.wf.start_task(child, i) for i in range(n)]
        resumes.append(1)
        return sum(r.result for r in fan_out.wf.wait(*handles))

    assert runner.run(fan_out, 50) == sum(i * i for i in range(50))
    # One run that started the children and suspended, one resume when all were done.
    assert len(resumes) == 2


def test_identical_calls_are_two_children() -> None:
    runner = LocalRunner()
    runs: list[str] = []

    @runner.task
    def child(x: str) -> str:
        runs.append(x)
        return child.workflow.workflow_id

    @runner.task
    def flow() -> list[str]:
        a = flow.wf.execute_task(child, "same")
        b = flow.wf.execute_task(child, "same")
        return [a.invocation_id, b.invocation_id]

    first, second = runner.run(flow)
    assert first != second
    assert runs == ["same", "same"]


def test_force_new_workflow_child_has_lineage() -> None:
    runner = LocalRunner()

    @runner.task(force_new_workflow=True)
    def sub() -> list[str | None]:
        me = sub.workflow
        return [me.workflow_id, me.parent_workflow_id, me.root_workflow_id, me.workflow_type]

    @runner.task
    def plain() -> str:
        return plain.workflow.workflow_id

    @runner.task
    def flow() -> dict[str, Any]:
        result = flow.wf.execute_task(sub)
        return {
            "me": flow.workflow.workflow_id,
            "sub": result.result,
            "sub_identity": result.workflow.workflow_id,
            "plain": flow.wf.execute_task(plain).result,
        }

    out = runner.run(flow)
    me = out["me"]
    assert out["sub"][0] == out["sub_identity"] != me
    assert out["sub"][1:3] == [me, me]
    assert out["sub"][3].endswith("sub")
    assert out["plain"] == me
    children = runner.store.child_workflows(me)
    assert [c.workflow_id for c in children] == [out["sub"][0]]


def test_start_is_idempotent_by_key_and_id() -> None:
    engine, queue, spec = single_task_engine(lambda: None)
    a, created_a = engine.start(spec, idempotency_key="order-1")
    b, created_b = engine.start(spec, idempotency_key="order-1")
    c, created_c = engine.start(spec, workflow_id="my-id")
    d, created_d = engine.start(spec, workflow_id="my-id")
    assert (created_a, created_b, created_c, created_d) == (True, False, True, False)
    assert a.workflow_id == b.workflow_id
    assert c.workflow_id == d.workflow_id == "my-id"
    assert len(queue.sent) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workflow_id": ""}, "non-empty"),
        ({"workflow_id": "a{b}"}, "braces"),
        ({"workflow_id": 5}, "non-empty str"),
        ({"workflow_id": "x", "idempotency_key": "y"}, "not both"),
        ({"idempotency_key": ""}, "non-empty"),
    ],
)
def test_bad_start_arguments_are_refused(kwargs: dict[str, Any], message: str) -> None:
    engine, queue, spec = single_task_engine(lambda: None)
    with pytest.raises(ConfigurationError, match=message):
        engine.start(spec, **kwargs)
    assert queue.sent == []


def test_reusing_an_id_for_another_task_is_refused() -> None:
    engine, _, spec = single_task_engine(lambda: None)
    engine.start(spec, workflow_id="shared")
    with pytest.raises(ConfigurationError, match="already exists"):
        engine.start(TaskSpec("other", lambda: None), workflow_id="shared")


def test_waiting_twice_on_one_handle_resumes() -> None:
    runner = LocalRunner()

    @runner.task
    def child() -> int:
        return 3

    @runner.task
    def flow() -> int:
        handle = flow.wf.start_task(child)
        first, second = flow.wf.wait(handle, handle)
        return int(first.result + second.result)

    assert runner.run(flow) == 6


def test_runs_leave_no_garbage_cycles() -> None:
    # Given workflows that suspend on children, draw values and run a checkpointed step
    runner = LocalRunner()

    @runner.task(name="child")
    def child(x: int) -> int:
        return x + 1

    @runner.task(name="flow")
    def flow(n: int) -> int:
        wf = flow.wf
        wf.random()
        a = wf.execute_task(child, n).result
        b = wf.deterministic("double", lambda: a * 2)
        return int(wf.execute_task(child, b).result)

    runner.run(flow, 0)  # warm-up: imports, caches
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        # When more of them run to completion
        for n in range(5):
            assert runner.run(flow, n) == 2 * (n + 1) + 1
        gc.collect()
        # Then reference counting freed every run: nothing was left for the collector (a
        # context in a cycle keeps its records, history and frames until a collection)
        left = [type(o).__name__ for o in gc.garbage]
        assert left == []
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


class _Outbox:
    """An outbox that is never used: the engine must refuse it before."""

    def prepare(self, ref: InvocationRef, delay: float | None = None) -> QueuePush:
        raise AssertionError("not reached")

    def pushed(self, push: QueuePush) -> None:
        raise AssertionError("not reached")

    def receipt(self, ref: InvocationRef) -> QueueReceipt | None:
        raise AssertionError("not reached")

    def acknowledged(self, receipt: QueueReceipt) -> None:
        raise AssertionError("not reached")


def test_an_outbox_needs_a_store_that_writes_pushes() -> None:
    # Given a memory store, which cannot write queue messages in its commits
    store, spec = MemoryStore(), TaskSpec("flow", lambda: None)
    # When an engine is built over it with an outbox
    # Then it is refused, naming the store and the way out
    with pytest.raises(ConfigurationError, match=r"MemoryStore.*cannot write queue.*outbox=None"):
        Engine(store=store, dispatcher=RecordingQueue(), tasks=lambda _: spec, outbox=_Outbox())
