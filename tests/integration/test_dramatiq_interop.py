"""Fitting existing Dramatiq code: task messages in groups and pipelines with the Results
middleware, and plain Dramatiq actors as workflow children (embedded StubBroker App)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware
from dramatiq.results import ResultFailure, Results
from dramatiq.results.backends import StubBackend

from tests.integration.apps.interop import Interop
from wfcore import InvocationRef, WorkflowStatus
from wfcore.errors import TaskFailedError, WorkflowFailedError
from wfcore.testing import assert_replays
from wfcore_dramatiq import App, DramatiqTask, WorkflowHandle

TIMEOUT_MS = 15_000


@pytest.fixture
def app(make_app: Callable[..., App]) -> App:
    """An embedded App whose broker stores results (Results before any task is declared)."""
    app = make_app()
    app.broker.add_middleware(Results(backend=StubBackend()))  # type: ignore[no-untyped-call]
    return app


class Flows:
    """Workflows and plain actors of one test App; ``calls`` counts plain actor runs."""

    def __init__(self, app: App) -> None:
        self.calls: dict[str, int] = {}
        lock = threading.Lock()

        def called(name: str) -> int:
            with lock:
                self.calls[name] = self.calls.get(name, 0) + 1
                return self.calls[name]

        base = Interop(app, called)  # double, slow_inc (suspends) and the plain actor shout
        shout = base.shout

        @app.task(store_results=True, max_retries=0)
        def broken(n: int) -> int:
            raise ValueError(f"no {n}")

        @dramatiq.actor(broker=app.broker, max_retries=3, min_backoff=10, max_backoff=20)
        def flaky(text: str) -> str:
            if called("flaky") == 1:
                raise ConnectionError("first attempt fails")
            return text

        @app.task
        def uses_actors(text: str) -> dict[str, Any]:
            wf = uses_actors.wf
            loud = wf.execute_task(shout, text).result
            again = wf.start_task(flaky, text).result()
            try:
                wf.execute_task(shout, "boom")
            except TaskFailedError as exc:
                return {"loud": loud, "again": again, "error": [exc.error_type, exc.error_message]}
            return {"loud": loud, "again": again, "error": None}

        self.double = base.double
        self.slow_inc = base.slow_inc
        self.broken: DramatiqTask[[int], int] = broken
        self.shout = shout
        self.uses_actors: DramatiqTask[[str], dict[str, Any]] = uses_actors


@pytest.fixture
def flows(app: App) -> Flows:
    return Flows(app)


# -- messages, groups, pipelines, Results ---------------------------------------------------


def test_a_group_of_task_messages_starts_workflows_and_gives_their_results(
    app: App, flows: Flows
) -> None:
    # Given a group of two workflow messages, one of which suspends before it finishes
    messages = [flows.double.message(4), flows.slow_inc.message(5)]
    group = dramatiq.group(messages, broker=app.broker)  # type: ignore[no-untyped-call]
    # When it runs
    group.run()  # type: ignore[no-untyped-call]
    # Then each message's result is its workflow's final result (not the suspended first run)
    results = group.get_results(block=True, timeout=TIMEOUT_MS)  # type: ignore[no-untyped-call]
    assert list(results) == [8, 11]
    # And each message started one workflow, named after the message
    for message in group.children:
        handle = app.handle(f"msg-{message.message_id}")
        assert handle.status() is WorkflowStatus.COMPLETED
        # And where its result goes is wfcore's own record, not the workflow's data
        assert handle.data() == {}


def test_a_pipeline_waits_for_each_suspending_workflow_to_finish(app: App, flows: Flows) -> None:
    # Given a pipeline whose first and last steps are workflows that suspend
    # (message_with_options: the piped argument is not given here)
    steps = [flows.slow_inc.message(1), flows.double.message_with_options()]
    steps.append(flows.slow_inc.message_with_options())
    pipe = dramatiq.pipeline(steps, broker=app.broker)
    # When it runs
    pipe.run()  # type: ignore[no-untyped-call]
    # Then each step got the previous workflow's final result as its last argument:
    # slow_inc(1) = 3, double(3) = 6, slow_inc(6) = 13
    assert pipe.get_result(block=True, timeout=TIMEOUT_MS) == 13  # type: ignore[no-untyped-call]
    results = pipe.get_results(block=True, timeout=TIMEOUT_MS)  # type: ignore[no-untyped-call]
    assert list(results) == [3, 6, 13]


def test_a_failed_workflow_is_the_message_result_failure(app: App, flows: Flows) -> None:
    # Given a workflow message sent on its own
    message = app.broker.enqueue(flows.broken.message(7))
    # When its workflow fails, Then its result is a ResultFailure naming the error
    with pytest.raises(ResultFailure, match="ValueError: no 7") as failure:
        message.get_result(backend=app.broker.get_results_backend(), block=True, timeout=TIMEOUT_MS)
    assert failure.value.orig_exc_type == "WorkflowFailedError"


def test_message_with_options_stores_results_for_a_task_that_does_not(app: App) -> None:
    # Given a task declared without store_results
    @app.task
    def triple(n: int) -> int:
        return n * 3

    # When a message asks for its result
    message = app.broker.enqueue(triple.message_with_options(args=(2,), store_results=True))
    # Then it gets the workflow's result
    backend = app.broker.get_results_backend()
    assert message.get_result(backend=backend, block=True, timeout=TIMEOUT_MS) == 6


def test_send_with_options_takes_a_timedelta_delay(app: App, flows: Flows) -> None:
    # Given a start delayed by a timedelta (as dramatiq.Actor.send_with_options takes one)
    handle = flows.double.send_with_options(args=(1,), delay=timedelta(milliseconds=300))
    # Then it has not run yet, and runs later
    assert handle.status() is WorkflowStatus.PENDING
    assert handle.result(timeout=10) == 2


def test_messages_and_groups_inside_a_workflow_are_refused(app: App, flows: Flows) -> None:
    # Given workflows that build a task message, or run a group of them, in their body
    @app.task(max_retries=0)
    def builds() -> None:
        flows.double.message(1)

    @app.task(max_retries=0)
    def groups() -> None:
        group = dramatiq.group([flows.double.actor.message(1)], broker=app.broker)  # type: ignore[no-untyped-call]
        group.run()  # type: ignore[no-untyped-call]

    # Then both fail with the misuse named, pointing to wf.start_task
    with pytest.raises(WorkflowFailedError, match=r"wf\.start_task\(double") as built:
        builds.send_with_options().result(timeout=10)
    assert built.value.error_type.endswith("ConfigurationError")
    with pytest.raises(WorkflowFailedError, match=r"group or pipeline.*wf\.start_task"):
        groups.send_with_options().result(timeout=10)


# -- plain actors as children ---------------------------------------------------------------


def test_plain_actors_run_as_children_and_their_failures_are_task_failures(
    app: App, flows: Flows
) -> None:
    # When a workflow runs plain actors as children (one fails for good, one is retried)
    handle = flows.uses_actors.send_with_options(args=("hi",))
    # Then it gets their return values, and the failure as a TaskFailedError
    assert handle.result(timeout=15) == {
        "loud": "HI",
        "again": "hi",
        "error": ["ValueError", "cannot shout boom"],
    }
    assert flows.calls == {"shout": 2, "flaky": 2}
    # And each child is recorded once, under the actor's name
    children = app.store.list_invocations(handle.workflow_id)[1:]
    assert [(c.task_name, c.status) for c in children] == [
        ("shout", WorkflowStatus.COMPLETED),
        ("flaky", WorkflowStatus.COMPLETED),
        ("shout", WorkflowStatus.FAILED),
    ]
    # And verification replays the workflow without running the actors again
    result = app.verify_replay(handle.workflow_id)
    assert result.ok, result.divergence
    assert len(result.settled) == 3
    assert flows.calls == {"shout": 2, "flaky": 2}


class _Duplicate(Middleware):
    """Delivers the first message of ``actor_name`` twice (the same message, twice queued)."""

    def __init__(self, actor_name: str) -> None:
        self.actor_name = actor_name
        self.done = False

    def after_enqueue(self, broker: dramatiq.Broker, message: Any, delay: int | None) -> None:
        if message.actor_name == self.actor_name and not self.done:
            self.done = True
            broker.enqueue(message)


def test_a_duplicate_actor_message_records_one_outcome_and_wakes_once(app: App) -> None:
    # Given a plain actor whose message is delivered twice
    runs: list[int] = []
    release = threading.Event()

    @dramatiq.actor(broker=app.broker, max_retries=0)
    def count(n: int) -> int:
        runs.append(n)
        release.wait(5)  # both deliveries finish together
        return len(runs) * 100 + n

    @app.task
    def waits() -> int:
        return int(waits.wf.execute_task(count, 1).result)

    app.broker.add_middleware(_Duplicate("count"))
    handle = waits.send_with_options()
    # When both deliveries finish
    while len(runs) < 2:
        threading.Event().wait(0.01)
    release.set()
    value = handle.result(timeout=10)
    # Then the actor ran twice, one outcome was recorded, and the parent resumed once
    assert runs == [1, 1]
    assert value in (101, 201)
    events = handle.history()
    ends = ("task_completed", "task_failed")
    assert [e.kind for e in events if e.task_name == "count" and e.kind in ends] == [
        "task_completed"
    ]
    root = [e.kind for e in events if e.invocation_id == handle.workflow_id]
    assert root.count("task_resumed") == 1


@pytest.mark.parametrize("kind", ["function", "other broker"])
def test_something_else_than_a_task_or_an_actor_of_this_broker_is_refused(
    app: App, kind: str
) -> None:
    # Given a plain function, or an actor declared on another broker
    def plain(n: int) -> int:
        return n

    other = dramatiq.actor(broker=StubBroker(), actor_name="elsewhere")(plain)
    target = plain if kind == "function" else other

    @app.task(max_retries=0)
    def flow() -> None:
        flow.wf.execute_task(target, 1)

    # Then the workflow fails at once with a ConfigurationError saying what to do
    expected = (
        "is not a wfcore task nor a Dramatiq actor"
        if kind == "function"
        else ("declared on another broker")
    )
    with pytest.raises(WorkflowFailedError, match=expected) as failed:
        flow.send_with_options().result(timeout=10)
    assert failed.value.error_type.endswith("ConfigurationError")


def test_a_workflow_handle_of_a_raw_message_is_reachable(app: App, flows: Flows) -> None:
    # A raw message's workflow is an ordinary workflow: a handle reads its result
    message = app.broker.enqueue(flows.double.message(21))
    backend = app.broker.get_results_backend()
    assert message.get_result(backend=backend, block=True, timeout=TIMEOUT_MS) == 42
    handle: WorkflowHandle[Any] = app.handle(f"msg-{message.message_id}")
    assert handle.result(timeout=5) == 42


def test_a_plain_actor_failure_is_recorded_only_once_its_retries_are_exhausted(
    app: App,
) -> None:
    # Given a plain actor that always fails, retried twice by Dramatiq
    attempts: list[int] = []

    @dramatiq.actor(broker=app.broker, max_retries=2, min_backoff=10, max_backoff=20)
    def always_fails(n: int) -> int:
        attempts.append(n)
        raise KeyError(f"attempt {len(attempts)}")

    @app.task
    def waits() -> str:
        try:
            waits.wf.execute_task(always_fails, 3)
        except TaskFailedError as exc:
            return f"{exc.task_name}: {exc.error_type}: {exc.error_message}"
        return "no failure"

    # When a workflow runs it as a child
    handle = waits.send_with_options()
    # Then the parent sees the last attempt's error, after every attempt ran
    assert handle.result(timeout=15) == "always_fails: KeyError: 'attempt 3'"
    assert attempts == [3, 3, 3]


def test_a_failed_recording_is_repaired_by_the_recovery_sweep(
    make_app: Callable[..., App], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a plain actor child whose first outcome cannot be recorded (the store blipped)
    app = make_app(recovery_interval=0, stale_after=0.3)
    runs: list[str] = []

    @dramatiq.actor(broker=app.broker, max_retries=0)
    def echo(text: str) -> str:
        runs.append(text)
        return text

    @app.task
    def waits() -> str:
        return str(waits.wf.execute_task(echo, "x").result)

    complete = app.engine.complete
    blips: list[InvocationRef] = []

    def blip_once(ref: InvocationRef, value: Any) -> bool:
        if not blips:
            blips.append(ref)
            raise ConnectionError("store unavailable")
        return complete(ref, value)

    monkeypatch.setattr(app.engine, "complete", blip_once)
    handle = waits.send_with_options()
    while not blips:
        threading.Event().wait(0.01)
    assert handle.status() is WorkflowStatus.SUSPENDED
    # When the recovery sweep runs once the child has been idle for stale_after
    threading.Event().wait(0.5)
    assert blips[0] in app.recover()
    # Then the actor runs again (at least once), its outcome is recorded, the parent finishes
    assert handle.result(timeout=10) == "x"
    assert runs == ["x", "x"]
    # And the history, exported, replays against the code without running the actor
    path = tmp_path / "waits.wfh"
    handle.export_history(path)
    assert_replays(app, path)
    assert runs == ["x", "x"]


def test_a_workflow_failed_by_a_plain_actor_resumes_and_runs_the_actor_again(
    app: App,
) -> None:
    # Given a workflow that failed because its plain actor child failed for good
    runs: list[int] = []

    @dramatiq.actor(broker=app.broker, max_retries=0)
    def fragile(n: int) -> int:
        runs.append(n)
        if len(runs) == 1:
            raise RuntimeError("down for maintenance")
        return n * 10

    @app.task(max_retries=0)
    def needs_it(n: int) -> int:
        return int(needs_it.wf.execute_task(fragile, n).result) + 1

    handle = needs_it.send_with_options(args=(4,))
    with pytest.raises(WorkflowFailedError, match="down for maintenance"):
        handle.result(timeout=10)
    # When it is resumed on the same code
    handle.resume()
    # Then the kept history replays with the actor as its child, the actor runs again
    assert handle.result(timeout=10) == 41
    assert runs == [4, 4]


def test_a_resumed_workflow_gives_its_message_the_new_result(app: App) -> None:
    # Given a message whose workflow failed (its result is that failure)
    attempts: list[int] = []

    @app.task(store_results=True, max_retries=0)
    def once_broken(n: int) -> int:
        attempts.append(n)
        if len(attempts) == 1:
            raise ValueError("first run fails")
        return n

    message = app.broker.enqueue(once_broken.message(5))
    backend = app.broker.get_results_backend()
    with pytest.raises(ResultFailure, match="first run fails"):
        message.get_result(backend=backend, block=True, timeout=TIMEOUT_MS)
    # When the workflow is resumed and completes
    handle = app.handle(f"msg-{message.message_id}")
    handle.resume()
    assert handle.result(timeout=10) == 5
    # Then the message's result becomes the new one (given right after the workflow ends)
    deadline = time.monotonic() + 10
    while True:
        try:
            assert message.get_result(backend=backend) == 5
            break
        except ResultFailure:
            assert time.monotonic() < deadline, "the resumed workflow's result never came"
            time.sleep(0.01)


def test_a_workflow_that_failed_before_its_reply_was_written_still_gives_its_resumed_result(
    app: App,
) -> None:
    # Given a raw message whose workflow failed before the message wrote its reply (a busy
    # worker: the root ran and failed between the start and the reply's write)
    attempts: list[int] = []

    @app.task(store_results=True, max_retries=0)
    def fails_first(n: int) -> int:
        attempts.append(n)
        if len(attempts) == 1:
            raise ValueError("first run fails")
        return n

    message = fails_first.message(7)
    workflow_id = f"msg-{message.message_id}"
    app.engine.start(fails_first.spec, (7,), {}, workflow_id=workflow_id)
    handle = app.handle(workflow_id)
    with pytest.raises(WorkflowFailedError):
        handle.result(timeout=10)
    app._replies.defer(message, workflow_id)
    backend = app.broker.get_results_backend()
    with pytest.raises(ResultFailure, match="first run fails"):
        message.get_result(backend=backend)
    # When the workflow is resumed and completes
    handle.resume()
    assert handle.result(timeout=10) == 7
    # Then the message's result becomes the new one
    deadline = time.monotonic() + 10
    while True:
        try:
            assert message.get_result(backend=backend) == 7
            break
        except ResultFailure:
            assert time.monotonic() < deadline, "the resumed workflow's result never came"
            time.sleep(0.01)
