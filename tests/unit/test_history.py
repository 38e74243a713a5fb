"""The typed history: lifecycle events and every recorded operation, with time and seq."""

from __future__ import annotations

import itertools

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
