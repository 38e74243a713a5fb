"""The typed history: lifecycle events and every recorded operation, with time and seq."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.support.engines import single_task_engine
from wfcore import LocalRunner, RetryableError, WorkflowStatus, current
from wfcore._codec import Codec
from wfcore._history import decode_outcome, encode_outcome
from wfcore.errors import DecodeError


def test_history_has_lifecycle_events_and_operations_in_order() -> None:
    # Given a workflow that records values, waits on a child and completes
    runner = LocalRunner()

    @runner.task(name="child")
    def child() -> int:
        return 1

    @runner.task(name="flow")
    def flow() -> int:
        flow.wf.random()
        flow.wf.patched("v2")
        return int(flow.wf.execute_task(child).result)

    workflow_id = runner.start(flow)
    runner.run_until_idle()
    # When its history is read
    events = runner.engine.history(workflow_id)
    # Then each invocation's story is told in order, with seqs on operations only
    root = [(e.kind, e.seq) for e in events if e.invocation_id == workflow_id]
    assert root == [
        ("task_created", None),
        ("task_started", None),
        ("workflow_started", None),
        ("random", 0),
        ("patched", 1),
        ("start_task", 2),
        ("task_suspended", None),
        ("workflow_suspended", None),
        ("task_resumed", None),
        ("workflow_resumed", None),
        ("task_completed", None),
        ("workflow_completed", None),
    ]
    kinds = [e.kind for e in events if e.invocation_id != workflow_id]
    assert kinds == ["task_created", "task_started", "task_completed"]
    assert [e.execution for e in events if e.kind == "task_resumed"] == [2]
    assert all(a.timestamp <= b.timestamp for a, b in itertools.pairwise(events))
    suspended = next(e for e in events if e.kind == "task_suspended")
    assert suspended.value == [2]


def test_retries_are_in_the_history_with_their_execution_and_error() -> None:
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(current().attempt)
        current().uuid()
        if len(attempts) < 3:
            raise RetryableError("gateway timeout")
        return "ok"

    engine, queue, _ = single_task_engine(flaky, "flaky")
    spec = engine.task("flaky")
    record, _ = engine.start(spec)
    for final in (False, False, True):
        engine.run(queue.sent[0], final_attempt=final)
    events = engine.history(record.workflow_id)
    retries = [e for e in events if e.kind == "task_retrying"]
    assert [e.execution for e in retries] == [1, 2]
    assert all(e.ok is False for e in retries)
    assert retries[0].value == "wfcore.errors.RetryableError: gateway timeout"
    assert [e.kind for e in events].count("uuid") == 1
    assert events[-1].kind == "workflow_completed"


def test_sleeps_appear_scheduled_and_fired() -> None:
    runner = LocalRunner()

    @runner.task(name="napper")
    def napper() -> str:
        napper.wf.sleep("2h")
        return "up"

    workflow_id = runner.start(napper)
    runner.run_until_idle()
    events = runner.engine.history(workflow_id)
    scheduled = next(e for e in events if e.kind == "sleep")
    fired = next(e for e in events if e.kind == "sleep_fired")
    assert scheduled.seq == fired.seq == 0
    assert fired.value == scheduled.value  # the fire time
    assert fired.timestamp >= scheduled.value
    assert fired.timestamp - scheduled.timestamp >= 7200


@pytest.mark.parametrize(
    "raw",
    [
        "COMPLETED",  # not a record
        ["COMPLETED"],  # too short
        ["COMPLETED", 1, 2],  # too long
        ["DONE", 1],  # no such status
        ["completed", 1],  # statuses are upper case
        [["COMPLETED"], 1],  # not a string (and unhashable)
        [None, 1],
    ],
)
def test_a_corrupt_outcome_is_a_decode_error(raw: object) -> None:
    # Given stored outcome bytes that are valid msgpack but not a [status, value] record
    codec = Codec()
    data = codec.encode(raw)
    # When they are decoded, Then the error names the record and says it is corrupt
    with pytest.raises(DecodeError, match=r"outcome of inv-1: not a \[status, value\] record"):
        decode_outcome(codec, data, "inv-1")


def test_an_outcome_decodes_to_its_status_and_value() -> None:
    codec = Codec()
    data = encode_outcome(codec, WorkflowStatus.FAILED, {"why": [1, 2]}, "result")
    outcome = decode_outcome(codec, data, "inv-1")
    assert (outcome.status, outcome.value) == (WorkflowStatus.FAILED, {"why": [1, 2]})


def _signal_flow(runner: LocalRunner) -> Any:
    @runner.task(name="listener")
    def listener() -> list[Any]:
        wf = listener.wf
        first = wf.wait_signal("go")
        second = wf.wait_signal("go", timeout="1h", default="late")
        third = wf.poll_signal("note")
        fourth = wf.poll_signal("note", default="none")
        wf.random()
        return [first, second, third, fourth]

    return listener


def _signal_rows(runner: LocalRunner, workflow_id: str) -> list[tuple[str, str, Any, Any]]:
    """(kind, name, seq, value) of the signal operations and what they took, by seq (the
    runner's clock jumped to the timeout, so the timed-out event sorts last by time)."""
    rows = [
        (e.kind, e.name, e.seq, e.value)
        for e in runner.engine.history(workflow_id)
        if e.seq is not None and e.kind != "random"
    ]
    return sorted(rows, key=lambda row: row[2])


def test_signal_waits_show_what_they_received_timed_out_or_polled() -> None:
    # Given a workflow that waits for a signal (it suspends), waits again with a timeout that
    # passes, polls a buffered signal and polls an empty buffer
    runner = LocalRunner()
    workflow_id = runner.start(_signal_flow(runner))
    runner.run_until_idle()
    runner.signal(workflow_id, "note", {"text": "ship it"})
    runner.signal(workflow_id, "go", {"ok": True, "by": "ana"})
    runner.run_until_idle()
    # When its history is read
    events = runner.engine.history(workflow_id)
    rows = _signal_rows(runner, workflow_id)
    # Then each wait and poll is followed by what it consumed: the payloads, or the timeout
    wait_until = rows[2][3]
    assert rows == [
        ("wait_signal", "go", 0, None),
        ("signal_received", "go", 0, {"ok": True, "by": "ana"}),
        ("wait_signal", "go", 1, wait_until),
        ("signal_timed_out", "go", 1, None),
        ("poll_signal", "note", 2, None),
        ("signal_received", "note", 2, {"text": "ship it"}),
        ("poll_signal", "note", 3, None),  # nothing buffered: nothing received
    ]
    assert runner.engine.result(workflow_id) == [
        {"ok": True, "by": "ana"}, "late", {"text": "ship it"}, "none"
    ]  # fmt: skip
    # And the received signal is dated when the suspended wait resumed with it; the timeout
    # when it passed; a poll's when the poll took it
    by_kind = {(e.kind, e.seq): e for e in events}
    resumed = [e for e in events if e.kind == "task_resumed"]
    assert by_kind[("signal_received", 0)].timestamp == resumed[0].timestamp
    assert by_kind[("signal_timed_out", 1)].timestamp >= wait_until
    assert by_kind[("signal_received", 2)].timestamp == by_kind[("poll_signal", 2)].timestamp


def test_a_buffered_signal_is_received_when_the_wait_runs() -> None:
    # Given a signal sent before the workflow first ran
    runner = LocalRunner()

    @runner.task(name="taker")
    def taker() -> Any:
        return taker.wf.wait_signal("go")

    workflow_id = runner.start(taker)
    runner.signal(workflow_id, "go", 7)
    runner.run_until_idle()
    # Then its wait took it at once: received, dated with the wait itself
    events = runner.engine.history(workflow_id)
    wait = next(e for e in events if e.kind == "wait_signal")
    received = next(e for e in events if e.kind == "signal_received")
    assert (received.seq, received.name, received.value) == (0, "go", 7)
    assert received.timestamp == wait.timestamp
    assert not any(e.kind == "task_suspended" for e in events)


def test_a_cancelled_signal_wait_shows_closed() -> None:
    # Given a workflow suspended in wait_signal, then cancelled
    runner = LocalRunner()

    @runner.task(name="doomed")
    def doomed() -> Any:
        return doomed.wf.wait_signal("go")

    workflow_id = runner.start(doomed)
    runner.run_until_idle()
    assert runner.engine.cancel(workflow_id)
    runner.run_until_idle()
    # Then the history says the wait was closed, not that it received anything
    kinds = [(e.kind, e.seq, e.value) for e in runner.engine.history(workflow_id) if e.seq == 0]
    assert kinds == [("wait_signal", 0, None), ("signal_closed", 0, None)]
