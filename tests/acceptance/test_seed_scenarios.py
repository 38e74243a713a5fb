"""Pynenc's workflow README (seed 001), ported: identity, lineage, data, retry with replay.

Each scenario runs on the embedded StubBroker App and on real ``dramatiq`` worker processes
over Redis (the ``deployment`` fixture).
"""

from __future__ import annotations

import uuid

from tests.integration.harness import RESULT_TIMEOUT, Deployment, start, token
from wfcore import WorkflowStatus


def test_a_standalone_task_is_its_own_workflow(deployment: Deployment) -> None:
    # Given a task started from outside any workflow
    s = deployment.s

    # When it runs
    handle = start(s.whoami)
    identity = handle.result(timeout=RESULT_TIMEOUT)

    # Then it sees a new workflow of its own type, with no parent, that is its own root
    assert identity == {
        "workflow_id": handle.workflow_id,
        "workflow_type": "whoami",
        "parent_workflow_id": None,
        "root_workflow_id": handle.workflow_id,
    }
    assert handle.status() is WorkflowStatus.COMPLETED
    assert handle.children() == []


def test_plain_children_inherit_the_workflow_and_its_data(deployment: Deployment) -> None:
    # Given a chain a -> b -> c of plain children, a writing data before calling b
    s, tok = deployment.s, token()

    # When the chain runs
    handle = start(s.chain_a, tok)
    result = handle.result(timeout=RESULT_TIMEOUT)

    # Then all three ran in one workflow (a's identity) and b and c read a's data
    expected = {
        "workflow_id": handle.workflow_id,
        "workflow_type": "chain_a",
        "parent_workflow_id": None,
        "root_workflow_id": handle.workflow_id,
    }
    assert result["a"] == result["b"] == result["c"] == result["b_result_workflow"] == expected
    assert result["b_saw"] == result["c_saw"] == tok
    assert handle.children() == []


def test_force_new_workflow_starts_a_child_workflow(deployment: Deployment) -> None:
    # Given a plain task that executes a task declared with force_new_workflow=True
    s = deployment.s

    # When it runs
    handle = start(s.call_independent_workflow, {"k": "v"})
    result = handle.result(timeout=RESULT_TIMEOUT)

    # Then the child has a new workflow id whose parent is the caller and whose root is shared
    child_id = result["child_workflow_id"]
    assert result["workflows_are_different"] is True
    assert result["parent_workflow_id"] == handle.workflow_id
    assert result["child_identity"] == {
        "workflow_id": child_id,
        "workflow_type": "independent_workflow",
        "parent_workflow_id": handle.workflow_id,
        "root_workflow_id": handle.workflow_id,
    }
    assert result["child_result"]["workflow_id"] == child_id
    assert result["child_result"]["data"] == {"k": "v"}
    # And the child workflow does not see the parent's data (its own namespace)
    assert result["child_result"]["saw_parent_data"] is None
    # And the parent's handle lists it, and it can be looked up on its own
    children = handle.children()
    assert [c.workflow_id for c in children] == [child_id]
    assert children[0].parent_workflow_id == handle.workflow_id
    child = deployment.app.handle(child_id)
    assert child.status() is WorkflowStatus.COMPLETED
    assert child.result(timeout=RESULT_TIMEOUT) == result["child_result"]


def test_three_runs_of_one_task_never_share_data(deployment: Deployment) -> None:
    # Given three concurrent runs of the same stateful task for different users
    s = deployment.s
    users = [f"user-{token()}" for _ in range(3)]

    # When they all run
    handles = [start(s.stateful_workflow, user) for user in users]
    results = [h.result(timeout=RESULT_TIMEOUT) for h in handles]

    # Then each saw only its own data: nothing before it wrote, then exactly its own values
    for handle, user, result in zip(handles, users, results, strict=True):
        assert result["workflow_id"] == handle.workflow_id
        assert result["user_id_before"] is None
        assert result["user_id"] == user
        assert result["step_results"] == [step["step_id"] for step in result["processing_steps"]]
    step_ids = [step["step_id"] for r in results for step in r["processing_steps"]]
    assert len(set(step_ids)) == 9
    assert len({h.workflow_id for h in handles}) == 3


def test_a_retried_workflow_replays_its_values_and_does_not_rerun_its_child(
    deployment: Deployment,
) -> None:
    # Given a task that draws random/uuid/utc_now, runs a child, then fails on its first
    # attempt only (Dramatiq retries it, max_retries=2)
    s, ledger, tok = deployment.s, deployment.ledger, token()

    # When it runs to the end
    handle = start(s.flaky_parent, tok)
    result = handle.result(timeout=RESULT_TIMEOUT)

    # Then it did fail once, and the retry saw exactly the values of the failed attempt
    seen = ledger.read(f"{tok}.parent-saw")
    assert len(seen) == 2
    assert seen[0] == seen[1] == result["values"]
    assert uuid.UUID(result["values"]["uuid"]).version == 4
    # And the finished child ran once: one body execution, one invocation in the store
    assert ledger.count(f"{tok}.child") == 1
    invocations = deployment.app.store.list_invocations(handle.workflow_id)
    assert [i.task_name for i in invocations].count("counted_child") == 1
    assert result["child"]["invocation_id"] == ledger.read(f"{tok}.child")[0]["invocation_id"]
    assert handle.status() is WorkflowStatus.COMPLETED
