"""Signals through the real engine (LocalRunner) on memory, SQLite and Redis stores."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wfcore import LocalRunner, Replayer, RunStatus, WorkflowCancelled, WorkflowStatus
from wfcore._models import Batch, CommitResult
from wfcore.errors import (
    ConfigurationError,
    EncodeError,
    NonDeterminismError,
    SignalTimeoutError,
    WorkflowFailedError,
    WorkflowNotFoundError,
    WorkflowNotRunningError,
)
from wfcore.store import DelegatingStore, StateStore, open_store


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    kind = request.param
    if kind == "memory":
        url = "memory://"
    elif kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'signals.db'}"
    else:
        base = request.getfixturevalue("redis_url")
        url = f"{base}{'&' if '?' in base else '?'}prefix=sig-{uuid.uuid4().hex[:10]}"
    opened = open_store(url)
    try:
        yield opened
    finally:
        opened.close()


def _approval(runner: LocalRunner) -> Any:
    @runner.task(name="approval")
    def approval(order: str) -> dict[str, Any]:
        wf = approval.wf
        wf.set_data("status", "awaiting approval")
        decision = wf.wait_signal("approval", timeout="2d", default=None)
        if decision is None:
            wf.set_data("status", "expired")
            return {"order": order, "status": "expired"}
        comment = wf.poll_signal("comment")
        wf.set_data("status", "done")
        return {"order": order, "ok": decision["ok"], "comment": comment}

    return approval


def test_a_signal_sent_before_the_wait_is_buffered_and_taken_at_once(store: StateStore) -> None:
    # Given a started workflow that has not run yet, and an approval already sent
    runner = LocalRunner(store)
    flow = _approval(runner)
    workflow_id = runner.start(flow, "ORD-1")
    runner.signal(workflow_id, "approval", {"ok": True})
    runner.signal(workflow_id, "comment", "fine")
    # When it runs
    runner.run_until_idle()
    # Then it never suspended: one run, and both signals were taken
    assert [r.status for _, r in runner.results] == [RunStatus.COMPLETED]
    assert runner.engine.result(workflow_id) == {"order": "ORD-1", "ok": True, "comment": "fine"}


def test_a_signal_to_a_suspended_wait_wakes_it_once(store: StateStore) -> None:
    # Given a workflow suspended on its approval
    runner = LocalRunner(store)
    flow = _approval(runner)
    workflow_id = runner.start(flow, "ORD-1")
    runner.step()
    assert runner.engine.workflow(workflow_id).status is WorkflowStatus.SUSPENDED
    assert runner.engine.get_data(workflow_id, "status") == "awaiting approval"
    # When the approval comes, three times at once (one id), and another signal with it
    for _ in range(3):
        runner.signal(workflow_id, "approval", {"ok": False}, signal_id="ticket-77")
    runner.signal(workflow_id, "approval", {"ok": True})
    # Then exactly one message wakes it, and it consumed the first signal only
    assert len(runner._queue) == 1
    runner.run_until_idle()
    assert runner.engine.result(workflow_id) == {"order": "ORD-1", "ok": False, "comment": None}
    assert runner.engine.data(workflow_id) == {"status": "done"}


def test_a_signal_between_the_wait_and_its_suspension_is_not_lost(store: StateStore) -> None:
    # Given a workflow whose signal arrives right after the wait was registered, before the
    # run suspends (sent from inside the run, the way a concurrent client would)
    class Sending(DelegatingStore):
        runner: LocalRunner

        def commit(self, workflow_id: str, invocation_id: str, batch: Batch) -> CommitResult:
            result = self.inner.commit(workflow_id, invocation_id, batch)
            if batch.signal is not None and batch.signal.seq == 0 and result.signal is None:
                self.runner.signal(workflow_id, "go", "in between")
            return result

    sending = Sending(store)
    runner = sending.runner = LocalRunner(sending)

    @runner.task(name="racy")
    def racy() -> Any:
        wf = racy.wf
        return wf.wait_signal("go"), wf.wait_signal("go", timeout=5, default="late")

    workflow_id = runner.start(racy)
    # When it runs
    runner.run_until_idle()
    # Then the first wait got the signal (its suspension was refused and the run replayed)
    assert runner.engine.result(workflow_id) == ("in between", "late")


def test_a_timeout_wins_when_no_signal_comes_and_a_late_signal_stays_buffered(
    store: StateStore,
) -> None:
    # Given a workflow that waits 60 s for "go", then (after a step) polls for it
    runner = LocalRunner(store)

    @runner.task(name="timed")
    def timed() -> Any:
        wf = timed.wf
        first = wf.wait_signal("go", timeout=60, default="timed out")
        wf.sleep(10)
        return first, wf.poll_signal("go")

    workflow_id = runner.start(timed)
    runner.step()
    # When the timer fires first, then the signal comes during the sleep
    runner.advance(61)
    runner.step()
    runner.signal(workflow_id, "go", "late")
    runner.run_until_idle()
    # Then the wait timed out, and the late signal went to the next consumer
    assert runner.engine.result(workflow_id) == ("timed out", "late")


def test_a_signal_that_comes_before_the_due_timer_runs_wins(store: StateStore) -> None:
    # Given a workflow suspended on a wait with a timeout that has passed (its wake-up not
    # yet run)
    runner = LocalRunner(store)

    @runner.task(name="timed")
    def timed() -> Any:
        return timed.wf.wait_signal("go", timeout=60, default="timed out")

    workflow_id = runner.start(timed)
    runner.step()
    runner.advance(120)
    # When the signal is recorded first, then the timer's wake-up runs too
    runner.signal(workflow_id, "go", "signal")
    runner.run_until_idle()
    # Then the signal won and the timer had no effect
    assert runner.engine.result(workflow_id) == "signal"
    assert [r.status for _, r in runner.results][-1] is RunStatus.SKIPPED


def test_a_timeout_without_default_raises_signal_timeout_error(store: StateStore) -> None:
    runner = LocalRunner(store)

    @runner.task(name="strict")
    def strict() -> Any:
        try:
            return strict.wf.wait_signal("go", timeout="1h")
        except SignalTimeoutError as e:
            return f"caught: {e.name}"

    @runner.task(name="uncaught")
    def uncaught() -> Any:
        return uncaught.wf.wait_signal("go", timeout="1h")

    # When both time out
    assert runner.run(strict) == "caught: go"
    failing = runner.start(uncaught)
    runner.run_until_idle()
    # Then the error is typed, and uncaught it fails the workflow, naming the signal
    with pytest.raises(WorkflowFailedError, match="SignalTimeoutError") as caught:
        runner.engine.result(failing)
    assert "no signal 'go' came within 3600 s" in str(caught.value)


@pytest.mark.parametrize("how", ["wait", "poll"])
def test_a_thousand_signals_are_consumed_in_order(store: StateStore, how: str) -> None:
    # Given 1000 signals sent to a workflow before it runs
    runner = LocalRunner(store)

    @runner.task(name="drain")
    def drain(n: int) -> list[int]:
        wf = drain.wf
        take = wf.wait_signal if how == "wait" else wf.poll_signal
        return [take("n") for _ in range(n)]

    workflow_id = runner.start(drain, 1000)
    for i in range(1000):
        runner.signal(workflow_id, "n", i)
    # When it consumes them
    runner.run_until_idle()
    # Then it got each once, in the order they were sent, without suspending
    assert runner.engine.result(workflow_id) == list(range(1000))
    assert len(runner.results) == 1


def test_replay_and_verification_return_the_recorded_payloads(store: StateStore) -> None:
    # Given a finished approval that consumed a signal and polled one
    runner = LocalRunner(store)
    flow = _approval(runner)
    workflow_id = runner.start(flow, "ORD-9")
    runner.step()
    runner.signal(workflow_id, "approval", {"ok": True, "by": "ana"})
    runner.signal(workflow_id, "comment", "ship it")
    runner.run_until_idle()
    # When it is verified against its history (with new signals buffered meanwhile)
    result = Replayer(runner._lookup, codec=runner.engine.codec).replay(store, workflow_id)
    # Then the replay returned what the first run got
    assert result.ok, result
    assert runner.engine.result(workflow_id)["comment"] == "ship it"
    kinds = [e.kind for e in runner.engine.history(workflow_id) if e.seq is not None]
    assert kinds == [
        "set_data", "wait_signal", "signal_received", "poll_signal", "signal_received", "set_data"
    ]  # fmt: skip


def test_changed_signal_names_are_divergences(store: StateStore) -> None:
    # Given a workflow suspended on "approval", whose code then waits for another name
    runner = LocalRunner(store)
    names = ["approval"]

    @runner.task(name="renamed")
    def renamed() -> Any:
        return renamed.wf.wait_signal(names[0])

    workflow_id = runner.start(renamed)
    runner.step()
    names[0] = "consent"
    runner.signal(workflow_id, "approval", 1)
    runner.run_until_idle()
    # Then the replay fails with a divergence naming both operations
    with pytest.raises(WorkflowFailedError, match="NonDeterminismError") as caught:
        runner.engine.result(workflow_id)
    assert "wait_signal('approval')" in str(caught.value)
    assert "wait_signal('consent')" in str(caught.value)
    assert NonDeterminismError.__name__ in caught.value.error_type


def test_signal_workflow_is_delivered_once_across_replays(store: StateStore) -> None:
    # Given a receiver waiting for two "done" signals, and a sender that signals it once and
    # then replays (it sleeps after sending)
    runner = LocalRunner(store)

    @runner.task(name="receiver")
    def receiver() -> Any:
        wf = receiver.wf
        return wf.wait_signal("done"), wf.wait_signal("done", timeout=3600, default="none")

    @runner.task(name="sender")
    def sender(target: str) -> str:
        wf = sender.wf
        wf.signal_workflow(target, "done", {"from": wf.workflow.workflow_id})
        wf.sleep(30)
        wf.sleep(30)
        return "sent"

    target = runner.start(receiver)
    runner.run_until_idle()
    source = runner.start(sender, target)
    # When everything runs (the sender replays its send twice)
    runner.run_until_idle()
    # Then the receiver got one signal, and its second wait timed out
    assert runner.engine.result(source) == "sent"
    assert runner.engine.result(target) == ({"from": source}, "none")


def test_signal_workflow_to_a_finished_workflow_raises_the_same_on_every_replay(
    store: StateStore,
) -> None:
    runner = LocalRunner(store)

    @runner.task(name="quick")
    def quick() -> int:
        return 1

    @runner.task(name="sender")
    def sender(target: str) -> str:
        wf = sender.wf
        try:
            wf.signal_workflow(target, "done", 1)
        except WorkflowNotRunningError as e:
            outcome = f"refused: {e.status}"
        try:
            wf.signal_workflow("no-such-workflow", "done", 1)
        except WorkflowNotFoundError:
            outcome += ", missing"
        wf.sleep(5)  # replays both sends
        return outcome

    target = runner.start(quick)
    runner.run_until_idle()
    assert runner.run(sender, target) == "refused: COMPLETED, missing"


def test_two_invocations_waiting_for_one_name_are_served_in_wait_order(store: StateStore) -> None:
    # Given a root that starts a child (same workflow) that waits, then waits itself
    runner = LocalRunner(store)

    @runner.task(name="kid")
    def kid() -> Any:
        return kid.wf.wait_signal("go")

    @runner.task(name="root")
    def root() -> Any:
        wf = root.wf
        handle = wf.start_task(kid)
        wf.sleep(1)  # the child runs and registers its wait first
        mine = wf.wait_signal("go")
        return mine, handle.result()

    workflow_id = runner.start(root)
    runner.run_until_idle()
    runner.signal(workflow_id, "go", "first")
    runner.signal(workflow_id, "go", "second")
    runner.run_until_idle()
    # Then the first recorded wait consumed the first signal
    assert runner.engine.result(workflow_id) == ("second", "first")


def test_cancellation_reaches_a_waiting_workflow_and_its_wait_takes_no_later_signal(
    store: StateStore,
) -> None:
    runner = LocalRunner(store)

    @runner.task(name="cancellable")
    def cancellable() -> Any:
        wf = cancellable.wf
        try:
            wf.wait_signal("go")
        except WorkflowCancelled:
            wf.set_data("cleanup", "ran")
            raise

    workflow_id = runner.start(cancellable)
    runner.run_until_idle()
    # When it is cancelled while waiting
    runner.engine.cancel(workflow_id)
    runner.run_until_idle()
    # Then its cleanup ran, it is CANCELLED, and signals are refused naming that status
    assert runner.engine.workflow(workflow_id).status is WorkflowStatus.CANCELLED
    assert runner.engine.get_data(workflow_id, "cleanup") == "ran"
    with pytest.raises(WorkflowNotRunningError, match="CANCELLED") as caught:
        runner.signal(workflow_id, "go", 1)
    assert caught.value.status == "CANCELLED"


def test_bad_signals_are_typed_errors_and_store_nothing(store: StateStore) -> None:
    runner = LocalRunner(store)
    flow = _approval(runner)
    workflow_id = runner.start(flow, "ORD-1")
    # When signals with bad names, ids or payloads, or to unknown workflows, are sent
    with pytest.raises(ConfigurationError, match="non-empty str signal name"):
        runner.signal(workflow_id, 7, {})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="signal_id"):
        runner.signal(workflow_id, "approval", {}, signal_id=5)  # type: ignore[arg-type]
    with pytest.raises(EncodeError, match="payload of signal 'approval'"):
        runner.signal(workflow_id, "approval", object())
    with pytest.raises(WorkflowNotFoundError, match="no-such"):
        runner.signal("no-such", "approval", {})
    # Then nothing was stored: the workflow waits for a first approval
    runner.step()
    assert runner.engine.workflow(workflow_id).status is WorkflowStatus.SUSPENDED


def test_a_wake_lost_after_the_signal_was_recorded_is_recovered(store: StateStore) -> None:
    # Given a suspended wait whose signal was recorded but whose wake-up message was lost
    runner = LocalRunner(store)

    @runner.task(name="waiter")
    def waiter() -> Any:
        return waiter.wf.wait_signal("go")

    workflow_id = runner.start(waiter)
    runner.run_until_idle()
    runner.signal(workflow_id, "go", "payload")
    runner._queue.clear()  # the sender died before its message left
    # When the recovery sweep runs after the stale period
    runner.advance(120)
    woken = runner.engine.recover(stale_after=60)
    runner.run_until_idle()
    # Then it was re-sent, and the workflow got its signal
    assert [ref.workflow_id for ref in woken] == [workflow_id]
    assert runner.engine.result(workflow_id) == "payload"
