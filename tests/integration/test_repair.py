"""Repairs on the embedded App and on real Redis worker processes: a shipped bug fixed,
then resumed, forked, and forked in bulk while workers run."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.integration.harness import RESULT_TIMEOUT, Deployment, start, token
from wfcore import WorkflowStatus
from wfcore.errors import (
    ConfigurationError,
    RepairError,
    WorkflowFailedError,
    WorkflowNotFoundError,
)
from wfcore_dramatiq import WorkflowHandle


def _failed(deployment: Deployment, tok: str, bug: str = "bug") -> WorkflowHandle[Any]:
    """A repair_flow workflow that failed because of the bug behind marker ``bug``."""
    deployment.ledger.touch(f"{tok}-{bug}")
    handle = start(deployment.s.repairs.repair_flow, tok)
    with pytest.raises(WorkflowFailedError):
        handle.result(timeout=RESULT_TIMEOUT)
    return handle


def _fix(deployment: Deployment, tok: str, bug: str = "bug") -> None:
    (deployment.ledger.root / f"{tok}-{bug}").unlink()


def _counts(deployment: Deployment, tok: str) -> list[int]:
    names = ["step1", "step2", "charge", "step3"]
    return [deployment.ledger.count(f"{tok}-{name}") for name in names]


def test_a_fixed_third_child_resumes_and_the_first_two_do_not_run_again(
    deployment: Deployment,
) -> None:
    # Given a workflow whose third child failed for good because of a bug
    tok = token()
    handle = _failed(deployment, tok)
    assert _counts(deployment, tok) == [1, 1, 1, 1]
    # When the bug is fixed and the workflow resumed
    _fix(deployment, tok)
    handle.resume()
    result = handle.result(timeout=RESULT_TIMEOUT)
    # Then it completes; only the failed child ran again; its replay verifies
    assert result["steps"] == ["step1", "step2", "step3"]
    assert _counts(deployment, tok) == [1, 1, 1, 2]
    assert deployment.app.verify_replay(handle.workflow_id).ok
    assert "resumed" in [e.kind for e in handle.history()]


def test_a_failed_step_resumes_and_runs_again(deployment: Deployment) -> None:
    tok = token()
    handle = _failed(deployment, tok, bug="charge-bug")
    _fix(deployment, tok, bug="charge-bug")
    handle.resume()
    assert handle.result(timeout=RESULT_TIMEOUT)["paid"] == "charged"
    assert _counts(deployment, tok) == [1, 1, 2, 1]
    assert deployment.app.verify_replay(handle.workflow_id).ok


@pytest.mark.parametrize(
    ("options", "counts"),
    [
        ({"from_failure": True}, [1, 1, 1, 2]),
        ({"from_step": "charge"}, [1, 1, 2, 2]),
        ({"from_seq": 1}, [1, 2, 2, 2]),
    ],
)
def test_forks_run_again_from_their_point(
    deployment: Deployment, options: dict[str, Any], counts: list[int]
) -> None:
    tok = token()
    original = _failed(deployment, tok)
    _fix(deployment, tok)
    fork = original.fork(**options)
    result = fork.result(timeout=RESULT_TIMEOUT)
    assert result["steps"] == ["step1", "step2", "step3"]
    assert _counts(deployment, tok) == counts
    assert fork.forked_from == original.workflow_id
    assert original.forks() == [fork.workflow_id]
    assert original.status() is WorkflowStatus.FAILED
    assert deployment.app.verify_replay(fork.workflow_id).ok


def test_bad_repair_requests_are_typed_errors_and_write_nothing(deployment: Deployment) -> None:
    tok = token()
    original = _failed(deployment, tok)
    _fix(deployment, tok)
    done = start(deployment.s.repairs.repair_flow, tok)
    done.result(timeout=RESULT_TIMEOUT)
    before = len(deployment.app.store.list_workflows(limit=100_000))
    with pytest.raises(RepairError, match="COMPLETED"):
        done.resume()
    with pytest.raises(WorkflowNotFoundError):
        deployment.app.engine.fork(f"nope-{tok}", from_seq=0)
    with pytest.raises(ConfigurationError, match="outside the history"):
        original.fork(from_seq=99)
    with pytest.raises(ConfigurationError, match="no step or child task named 'refund'"):
        original.fork(from_step="refund")
    with pytest.raises(ConfigurationError, match="exactly one of"):
        original.fork(from_seq=1, from_step="charge")
    assert len(deployment.app.store.list_workflows(limit=100_000)) == before
    assert original.status() is WorkflowStatus.FAILED


def test_racing_resumes_resume_once(deployment: Deployment) -> None:
    # Given a failed workflow, fixed, and eight clients resuming it at one instant
    tok = token()
    handle = _failed(deployment, tok)
    _fix(deployment, tok)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def resume() -> None:
        barrier.wait()
        try:
            deployment.app.handle(handle.workflow_id).resume()
            outcomes.append("resumed")
        except RepairError:
            outcomes.append("refused")

    threads = [threading.Thread(target=resume) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then exactly one resumed it, and the failed child ran once more
    assert sorted(outcomes) == ["refused"] * 7 + ["resumed"]
    handle.result(timeout=RESULT_TIMEOUT)
    assert _counts(deployment, tok) == [1, 1, 1, 2]


def test_a_resume_racing_the_workers_of_a_healthy_workflow_is_refused(
    deployment: Deployment,
) -> None:
    # Given a workflow the workers are running (or have just completed: no bug marker)
    tok = token()
    handle = start(deployment.s.repairs.repair_flow, tok)
    # When it is resumed, then that is refused and the run goes on undisturbed
    with pytest.raises(RepairError, match="only a FAILED or CANCELLED"):
        handle.resume()
    handle.result(timeout=RESULT_TIMEOUT)
    assert _counts(deployment, tok) == [1, 1, 1, 1]


def test_bulk_fork_of_200_failed_workflows_while_workers_run(deployment: Deployment) -> None:
    # Given 200 workflows failed by a shipped bug
    tok = token()
    deployment.ledger.touch(f"{tok}-bug")
    handles = [start(deployment.s.repairs.repair_bulk, tok, i) for i in range(200)]
    for handle in handles:
        with pytest.raises(WorkflowFailedError):
            handle.result(timeout=RESULT_TIMEOUT)
    _fix(deployment, tok)
    # When they are forked from their failure in bulk, twice with the same fork id
    forks = deployment.app.fork_many(
        status="FAILED", workflow_type="repair_bulk", since="1h", from_failure=True, fork_id=tok
    )
    again = deployment.app.fork_many(
        status="FAILED", workflow_type="repair_bulk", since="1h", from_failure=True, fork_id=tok
    )
    # Then each ran to its result without running its first child again, and the repeat
    # created nothing
    assert sorted(f.result(timeout=RESULT_TIMEOUT) for f in forks) == list(range(200))
    assert sorted(f.workflow_id for f in again) == sorted(f.workflow_id for f in forks)
    assert deployment.ledger.count(f"{tok}-step1") == 200
    assert {f.forked_from for f in forks} == {h.workflow_id for h in handles}
