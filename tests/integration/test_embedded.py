"""Plugin behaviours proven on the embedded App (StubBroker + in-process worker threads).

These need in-process observation (events, barriers, broker middlewares), so each test
declares its own tasks on a fresh App from ``make_app``.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage, Middleware, Retries

import wfcore_dramatiq._dispatch
from tests.integration.apps.scenarios import FAST_RETRIES
from tests.integration.harness import RESULT_TIMEOUT, start
from wfcore import WorkflowStatus
from wfcore.errors import (
    ConfigurationError,
    NotInWorkflowError,
    RetryableError,
    WorkflowFailedError,
    WorkflowNotFoundError,
)
from wfcore_dramatiq import App, WorkflowHandle

MakeApp = Callable[..., App]


class MessageLog(Middleware):
    """Counts, per wfcore invocation (``options["wfcore"]``), messages enqueued and processed.

    ``before_enqueue`` fires twice for a delayed message (into the delay queue, then when
    promoted), so only enqueues without a delay count as dispatches.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.enqueued: Counter[str] = Counter()
        self.processed: Counter[str] = Counter()

    def before_enqueue(self, broker: dramatiq.Broker, message: Any, delay: int | None) -> None:
        if not delay:
            self._count(self.enqueued, message)

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self._count(self.processed, message)

    def _count(self, counter: Counter[str], message: Any) -> None:
        target = message.options.get("wfcore")
        if isinstance(target, dict) and "invocation_id" in target:
            with self._lock:
                counter[target["invocation_id"]] += 1


def _wait_for_status(handle: WorkflowHandle[Any], status: WorkflowStatus) -> None:
    deadline = time.monotonic() + RESULT_TIMEOUT
    while handle.status() is not status:
        assert time.monotonic() < deadline, f"{handle} never reached {status}"
        time.sleep(0.01)


# -- task.wf is the current invocation -----------------------------------------------------


def test_a_task_run_twice_in_one_worker_thread_never_shares_state(make_app: MakeApp) -> None:
    # Given one worker thread and a task that reads, then writes, workflow data
    app = make_app(worker_threads=1)

    @app.task
    def remember(value: str) -> dict[str, Any]:
        wf = remember.wf
        before = wf.get_data("value")
        wf.set_data("value", value)
        return {
            "workflow_id": remember.workflow.workflow_id,
            "before": before,
            "random": wf.random(),
            "stable": remember.wf is wf,
        }

    # When it runs twice, one after the other, on that same thread
    first_handle = start(remember, "one")
    first = first_handle.result(timeout=RESULT_TIMEOUT)
    second_handle = start(remember, "two")
    second = second_handle.result(timeout=RESULT_TIMEOUT)

    # Then the second run saw its own workflow, not the first one's (a Pynenc 0.2 bug)
    assert first["workflow_id"] == first_handle.workflow_id
    assert second["workflow_id"] == second_handle.workflow_id
    assert first["before"] is None
    assert second["before"] is None
    assert first["random"] != second["random"]
    assert first["stable"]
    assert second["stable"]
    # And nothing is left bound outside an invocation
    with pytest.raises(NotInWorkflowError):
        _ = remember.wf
    with pytest.raises(NotInWorkflowError):
        _ = remember.workflow


def test_concurrent_runs_each_see_their_own_invocation(make_app: MakeApp) -> None:
    # Given two worker threads and a task whose two runs meet at a barrier mid-body
    app = make_app(worker_threads=2)
    barrier = threading.Barrier(2, timeout=10)

    @app.task
    def other() -> None:
        """Another task object: its ``wf`` is the running invocation too."""

    @app.task
    def meet(name: str) -> dict[str, Any]:
        before = meet.workflow.workflow_id
        barrier.wait()
        return {
            "before": before,
            "after": meet.workflow.workflow_id,
            "via_other_task": other.workflow.workflow_id,
        }

    # When both run at the same time
    handles = [start(meet, name) for name in ("a", "b")]
    results = [h.result(timeout=RESULT_TIMEOUT) for h in handles]

    # Then each saw only its own workflow, before and after the other ran
    for handle, result in zip(handles, results, strict=True):
        assert result == dict.fromkeys(("before", "after", "via_other_task"), handle.workflow_id)


# -- context injection into plain Dramatiq messages ----------------------------------------


def test_plain_actor_messages_sent_inside_a_workflow_carry_its_context(
    make_app: MakeApp,
) -> None:
    # Given a plain Dramatiq actor (not a wfcore task) that reports its message's options
    app = make_app()
    app.broker.add_middleware(CurrentMessage())
    seen: queue.Queue[tuple[str, Any]] = queue.Queue()

    @dramatiq.actor(broker=app.broker)
    def audit(note: str) -> None:
        message = CurrentMessage.get_current_message()
        assert message is not None
        seen.put((note, message.options.get("wfcore")))

    @app.task(force_new_workflow=True)
    def sub() -> str:
        audit.send("inside-sub")
        return sub.workflow.workflow_id

    @app.task
    def notify() -> dict[str, Any]:
        audit.send("inside")
        sub_id = notify.wf.execute_task(sub).result
        return {"invocation_id": notify.wf.invocation_id, "sub": sub_id}

    # When a workflow sends it, and the test sends it from outside any workflow
    handle = start(notify)
    result = handle.result(timeout=RESULT_TIMEOUT)
    audit.send("outside")
    got: dict[str, list[Any]] = {}
    while "outside" not in got:
        note, context = seen.get(timeout=RESULT_TIMEOUT)
        got.setdefault(note, []).append(context)

    # Then the messages sent inside carry the sender's ids (a plain send is not recorded, so
    # the parent's replay after its child sent "inside" again); the outside one carries none
    top = handle.workflow_id
    assert got["inside"] == [
        {
            "parent_workflow_id": top,
            "parent_invocation_id": result["invocation_id"],
            "root_workflow_id": top,
        }
    ] * len(got["inside"])
    [sub_context] = got["inside-sub"]
    assert sub_context["parent_workflow_id"] == result["sub"] != top
    assert sub_context["root_workflow_id"] == top
    assert got["outside"] == [None]


# -- dispatch and waiting ------------------------------------------------------------------


def test_replays_and_retries_never_dispatch_a_child_twice(make_app: MakeApp) -> None:
    # Given a parent with three sequential children that fails once after the second one
    app = make_app()
    log = MessageLog()
    app.broker.add_middleware(log)
    parent_runs: list[int] = []

    @app.task
    def step(n: int) -> int:
        return n

    @app.task(max_retries=1, **FAST_RETRIES)
    def parent() -> list[int]:
        wf = parent.wf
        parent_runs.append(1)
        a = wf.execute_task(step, 1).result
        b = wf.execute_task(step, 2).result
        if parent_runs.count(1) == 3:  # the first run that gets past the second child
            raise RuntimeError("transient")
        return [a, b, wf.execute_task(step, 3).result]

    # When it runs to completion (each child wakes it, and it is retried once)
    handle = start(parent)
    assert handle.result(timeout=RESULT_TIMEOUT) == [1, 2, 3]

    # Then each child got exactly one message, though the parent replayed several times
    children = [i for i in app.store.list_invocations(handle.workflow_id) if i.task_name == "step"]
    assert len(children) == 3
    assert [log.enqueued[c.invocation_id] for c in children] == [1, 1, 1]
    assert [log.processed[c.invocation_id] for c in children] == [1, 1, 1]
    assert len(parent_runs) >= 5
    assert log.processed[handle.workflow_id] <= len(parent_runs)


def test_one_worker_thread_runs_fifty_waiting_workflows(make_app: MakeApp) -> None:
    # Given ONE worker thread, and workflows that each wait for a child
    app = make_app(worker_threads=1)

    @app.task
    def leaf(i: int) -> int:
        return 2 * i

    @app.task
    def waiter(i: int) -> int:
        return int(waiter.wf.execute_task(leaf, i).result) + 1

    # When fifty of them are started at once
    handles = [start(waiter, i) for i in range(50)]

    # Then all finish: a waiting parent does not hold the only thread
    assert [h.result(timeout=RESULT_TIMEOUT) for h in handles] == [2 * i + 1 for i in range(50)]


def test_waiting_for_n_children_resumes_the_parent_once(make_app: MakeApp) -> None:
    # Given a parent that starts three children and waits for all of them, the children
    # held back until the parent has suspended
    app = make_app(worker_threads=4)
    log = MessageLog()
    app.broker.add_middleware(log)
    release = threading.Event()
    parent_runs: list[int] = []

    @app.task
    def gated(n: int) -> int:
        release.wait(RESULT_TIMEOUT)
        return n

    @app.task
    def joiner() -> list[int]:
        wf = joiner.wf
        parent_runs.append(1)
        handles = [wf.start_task(gated, n) for n in range(3)]
        return [r.result for r in wf.wait(*handles)]

    handle = start(joiner)
    try:
        _wait_for_status(handle, WorkflowStatus.SUSPENDED)
    finally:
        # When the three children finish together
        release.set()

    # Then the parent was woken once: one start, one wake-up, two runs in all
    assert handle.result(timeout=RESULT_TIMEOUT) == [0, 1, 2]
    assert log.enqueued[handle.workflow_id] == 2
    assert log.processed[handle.workflow_id] == 2
    assert len(parent_runs) == 2


# -- Dramatiq retry options and time limits ------------------------------------------------


def test_retryable_error_retries_after_its_delay(make_app: MakeApp) -> None:
    # Given a task that asks to be retried in 0.2 s on its first attempt
    app = make_app()
    attempts: list[float] = []

    @app.task(max_retries=3)
    def later() -> int:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            raise RetryableError("busy", delay=0.2)
        return len(attempts)

    # When it runs
    assert app.run(later) == 2

    # Then the retry came after about 0.2 s (not Dramatiq's default backoff of 15 s)
    gap = attempts[1] - attempts[0]
    assert 0.2 <= gap < 3.0


def test_max_retries_and_backoff_options_apply_to_tasks(make_app: MakeApp) -> None:
    # Given a task that always fails, with max_retries=2 and a backoff of a few ms
    app = make_app()
    attempts: list[float] = []

    @app.task(max_retries=2, min_backoff=20, max_backoff=40)
    def always_fails() -> None:
        attempts.append(time.monotonic())
        raise ConnectionError("service down")

    # When it runs
    handle = start(always_fails)

    # Then Dramatiq tried it three times, quickly, and the workflow FAILED with its error
    with pytest.raises(WorkflowFailedError, match="service down") as info:
        handle.result(timeout=RESULT_TIMEOUT)
    assert info.value.error_type == "ConnectionError"
    assert len(attempts) == 3
    assert attempts[-1] - attempts[0] < 5.0
    assert handle.status() is WorkflowStatus.FAILED


def test_a_failure_dramatiq_will_not_retry_fails_the_workflow(make_app: MakeApp) -> None:
    # Given a task whose error is in its `throws` option, and one whose error the broker-wide
    # Retries(retry_when=...) refuses to retry after one retry
    app = make_app()
    retries = next(m for m in app.broker.middleware if isinstance(m, Retries))
    retries.retry_when = lambda count, error: count < 1
    attempts: Counter[str] = Counter()

    @app.task(throws=PermissionError, max_retries=5, **FAST_RETRIES)
    def forbidden() -> None:
        attempts["forbidden"] += 1
        raise PermissionError("not allowed")

    @app.task(**FAST_RETRIES)
    def refused() -> None:
        attempts["refused"] += 1
        raise KeyError("refused")

    # When they run
    handles = {"forbidden": start(forbidden), "refused": start(refused)}

    # Then Dramatiq's decision not to retry is a FAILED workflow, not a stalled one
    for name, handle in handles.items():
        with pytest.raises(WorkflowFailedError):
            handle.result(timeout=RESULT_TIMEOUT)
        assert handle.status() is WorkflowStatus.FAILED, name
    assert attempts == {"forbidden": 1, "refused": 2}


def _spin(seconds: float) -> None:
    # Python-level waiting, so Dramatiq's asynchronous TimeLimitExceeded can interrupt it.
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_task_over_its_time_limit_is_retried_then_fails_the_workflow(
    make_app: MakeApp,
) -> None:
    # Given a task with time_limit=200 ms and one retry that always runs too long
    app = make_app()
    attempts: list[int] = []

    @app.task(time_limit=200, max_retries=1, **FAST_RETRIES)
    def stuck() -> None:
        attempts.append(1)
        _spin(10)

    # When it runs
    handle = start(stuck)

    # Then each attempt was interrupted, and with retries exhausted the workflow FAILED
    with pytest.raises(WorkflowFailedError) as info:
        handle.result(timeout=RESULT_TIMEOUT)
    assert "TimeLimitExceeded" in info.value.error_type
    assert len(attempts) == 2
    assert handle.status() is WorkflowStatus.FAILED


def test_a_task_over_its_time_limit_succeeds_on_retry(make_app: MakeApp) -> None:
    # Given a task with time_limit=200 ms that runs too long on its first attempt only
    app = make_app()
    attempts: list[int] = []

    @app.task(time_limit=200, max_retries=2, **FAST_RETRIES)
    def slow_once() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            _spin(10)
        return len(attempts)

    # When it runs
    # Then Dramatiq's retry completes it
    assert app.run(slow_once) == 2


def test_a_start_delay_longer_than_one_broker_hop_is_honoured(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given brokers that hold a delayed message for one hop at most (15 min; 0.1 s here)
    monkeypatch.setattr(wfcore_dramatiq._dispatch, "_MAX_DELAY_MS", 100)
    app = make_app()

    @app.task
    def postponed() -> datetime:
        return postponed.wf.utc_now()

    # When a workflow is started with a delay of several hops
    sent_at = datetime.now(UTC)
    handle = postponed.send_with_options(delay=0.6)

    # Then it starts after the whole delay, not after the first hop
    started_at = handle.result(timeout=RESULT_TIMEOUT)
    assert started_at - sent_at >= timedelta(seconds=0.59)


# -- configuration -------------------------------------------------------------------------


def test_an_app_joins_a_broker_with_plain_actors_but_not_another_app(make_app: MakeApp) -> None:
    # Given a broker on which a plain actor was declared before any App
    broker = StubBroker()
    seen: list[str] = []

    @dramatiq.actor(broker=broker)
    def early(text: str) -> None:
        seen.append(text)

    # When an App is created on it and a workflow sends the plain actor
    app = make_app(broker=broker)

    @app.task
    def notify(text: str) -> str:
        early.send(text)
        return text.upper()

    broker.emit_after("process_boot")
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=50)
    worker.start()
    try:
        result = start(notify, "hello").result(timeout=RESULT_TIMEOUT)
        broker.join("default")
    finally:
        worker.stop()

    # Then both run: the workflow completes and the plain actor got its message
    assert result == "HELLO"
    assert seen == ["hello"]

    # And a second App on a broker that already has one is refused
    shared = StubBroker()
    make_app(broker=shared)
    with pytest.raises(ConfigurationError, match="another App"):
        make_app(broker=shared)


def test_send_with_options_inside_a_workflow_is_refused(make_app: MakeApp) -> None:
    # Given a task that tries to start a top-level workflow from inside a workflow
    app = make_app()

    @app.task
    def target() -> None:
        """Never started."""

    @app.task
    def misuse() -> str:
        try:
            target.send_with_options(idempotency_key="nested")
        except ConfigurationError as exc:
            return str(exc)
        return "started"

    # When it runs
    message = app.run(misuse)

    # Then it got a clear error pointing to the child-starting API instead
    assert "wf.start_task" in message


def test_two_apps_in_one_process_do_not_interfere(make_app: MakeApp) -> None:
    # Given two embedded Apps, each with its own store, declaring a task of the same name
    first, second = make_app(), make_app()

    @first.task(actor_name="greet")
    def greet_first(name: str) -> str:
        return f"first:{name}"

    @second.task(actor_name="greet")
    def greet_second(name: str) -> str:
        return f"second:{name}"

    # When both start a workflow, even under the same explicit id
    one = greet_first.send_with_options(args=("x",), workflow_id="same-id")
    two = greet_second.send_with_options(args=("x",), workflow_id="same-id")
    other = start(greet_second, "y")

    # Then each App ran its own task in its own store
    assert one.result(timeout=RESULT_TIMEOUT) == "first:x"
    assert two.result(timeout=RESULT_TIMEOUT) == "second:x"
    assert other.result(timeout=RESULT_TIMEOUT) == "second:y"
    with pytest.raises(WorkflowNotFoundError):
        first.handle(other.workflow_id)


def test_a_plain_dramatiq_send_of_a_task_starts_one_workflow(make_app: MakeApp) -> None:
    # Given a task, sent the plain Dramatiq way (through its actor, not through wfcore)
    app = make_app()
    runs: list[str] = []

    @app.task
    def legacy(order_id: str) -> str:
        runs.append(order_id)
        return f"done {order_id} in {legacy.workflow.workflow_id}"

    app.run(legacy, "warm-up")  # starts the embedded worker
    message = legacy.actor.message("ORD-7")

    # When that message is delivered twice (Dramatiq is at-least-once)
    app.broker.enqueue(message)
    app.broker.enqueue(message)
    app.broker.join(legacy.actor.queue_name)

    # Then it ran as one workflow named after the message, once
    workflow_id = f"msg-{message.message_id}"
    result = app.handle(workflow_id).result(timeout=RESULT_TIMEOUT)
    assert result == f"done ORD-7 in {workflow_id}"
    assert runs.count("ORD-7") == 1
