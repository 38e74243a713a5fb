"""Children and failures, on the embedded App and on real Redis worker processes.

``execute_task``, ``start_task`` + ``wait``, ``TaskHandle.result``, ``task.send`` inside a
workflow, children keyed by position, per-invocation random streams, ``TaskFailedError`` in
the parent and ``WorkflowFailedError`` for the client.
"""

from __future__ import annotations

import uuid

import pytest

from tests.integration.harness import RESULT_TIMEOUT, Deployment, start, token
from wfcore import WorkflowStatus
from wfcore.errors import WorkflowFailedError


def test_a_plain_child_draws_its_own_random_values(deployment: Deployment) -> None:
    # Given a parent that draws random/uuid, then runs a plain child that draws too
    s = deployment.s

    # When it runs
    result = start(s.random_parent).result(timeout=RESULT_TIMEOUT)

    # Then parent and child share the workflow but never a value (Pynenc 0.2 shared them)
    parent, child = result["parent"], result["child"]
    assert parent["invocation_id"] != child["invocation_id"]
    assert parent["random"] != child["random"]
    assert parent["uuid"] != child["uuid"]
    assert uuid.UUID(child["uuid"]).version == 4


def test_start_task_wait_handle_result_and_send_inside_a_workflow(
    deployment: Deployment,
) -> None:
    # Given a parent that starts three children, waits for two, asks the third's handle,
    # executes a fourth and sends a fifth with task.send()
    s = deployment.s

    # When it runs
    handle = start(s.fan_parent)
    result = handle.result(timeout=RESULT_TIMEOUT)

    # Then every way of calling a child returned that child's result
    assert result["waited"] == [4, 9]
    assert result["handle_result"] == 16
    assert result["executed"] == 25
    assert result["sent_result"] == 36
    # And task.send() inside a workflow returned a TaskHandle, recorded as start_task
    assert result["sent_is_task_handle"] is True
    starts = [e for e in handle.history() if e.kind == "start_task" and e.name == "square"]
    assert len(starts) == 5
    assert len(set(result["invocations"])) == 3


def test_two_identical_calls_are_two_children(deployment: Deployment) -> None:
    # Given a parent that executes the same child with the same arguments twice
    s, ledger, tok = deployment.s, deployment.ledger, token()

    # When it runs
    handle = start(s.twice_parent, tok)
    first, second = handle.result(timeout=RESULT_TIMEOUT)

    # Then two distinct children ran, each once
    assert first != second
    assert ledger.count(f"{tok}.child") == 2
    names = [i.task_name for i in deployment.app.store.list_invocations(handle.workflow_id)]
    assert names.count("counted_child") == 2


def test_history_shows_the_recorded_operations(deployment: Deployment) -> None:
    # Given a task that uses every kind of deterministic operation and one child
    s = deployment.s

    # When it runs
    handle = start(s.recorder, token())
    assert handle.result(timeout=RESULT_TIMEOUT) == {"child": 49}

    # Then the history lists its operations in order, with their values, and the lifecycle
    history = handle.history()
    parent_ops = [
        (e.kind, e.name)
        for e in history
        if e.invocation_id == handle.workflow_id and e.seq is not None
    ]
    assert parent_ops == [
        ("random", ""),
        ("randint", ""),
        ("choice", ""),
        ("uuid", ""),
        ("utc_now", ""),
        ("deterministic", "sequence"),
        ("set_data", "status"),
        ("get_data", "status"),
        ("start_task", "square"),
    ]
    step = next(e for e in history if e.kind == "deterministic")
    assert step.value == 4242
    kinds = {(e.task_name, e.kind) for e in history}
    assert ("recorder", "task_completed") in kinds
    assert ("square", "task_completed") in kinds


@pytest.mark.parametrize(
    ("how", "error_type", "attempts"),
    [("retried", "ValueError", 3), ("fatal", "wfcore.errors.FatalError", 1)],
    ids=["retries-exhausted", "fatal-error"],
)
def test_a_permanently_failed_child_raises_task_failed_error_in_the_parent(
    deployment: Deployment, how: str, error_type: str, attempts: int
) -> None:
    # Given a parent that catches the failure of a child (max_retries=2), then runs one more
    # child so that it replays the caught failure
    s, ledger, tok = deployment.s, deployment.ledger, token()

    # When the child fails for good (retries exhausted, or FatalError at once)
    handle = start(s.catching_parent, tok, how)
    result = handle.result(timeout=RESULT_TIMEOUT)

    # Then the parent caught TaskFailedError naming the child, its error and traceback
    caught = result["caught"]
    assert caught["task_name"] == "doomed_child"
    assert caught["error_type"] == error_type
    assert tok in caught["error_message"]
    assert "doomed_child" in caught["traceback"]
    assert tok in caught["traceback"]
    # And the child ran as often as Dramatiq's retry policy says
    assert ledger.count(f"{tok}.doomed") == attempts
    # And every replay of the parent raised the very same error
    seen = ledger.read(f"{tok}.caught")
    assert len(seen) >= 2
    assert all(entry == caught for entry in seen)
    assert handle.status() is WorkflowStatus.COMPLETED


def test_an_unhandled_failure_fails_the_workflow(deployment: Deployment) -> None:
    # Given a task that raises and is not retried (max_retries=0)
    s, tok = deployment.s, token()

    # When it runs
    handle = start(s.explodes, tok)

    # Then the client sees WorkflowFailedError with the type, message and traceback
    with pytest.raises(WorkflowFailedError) as info:
        handle.result(timeout=RESULT_TIMEOUT)
    error = info.value
    assert error.workflow_id == handle.workflow_id
    assert error.error_type == "ValueError"
    assert error.error_message == f"unhandled boom {tok}"
    assert "explodes" in error.traceback
    assert handle.status() is WorkflowStatus.FAILED
    failed = [e for e in handle.history() if e.kind == "task_failed"]
    assert len(failed) == 1
    assert not failed[0].ok
