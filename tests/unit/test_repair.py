"""Repairs on the engine: resume of failed and cancelled workflows, forks, bad requests."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from wfcore import LocalRunner, Replayer, Task, WorkflowStatus
from wfcore.errors import (
    ConfigurationError,
    NonDeterminismError,
    RepairError,
    WorkflowFailedError,
    WorkflowNotFoundError,
)


@dataclass
class Shop:
    """An order workflow whose third child, or its charge step, has a bug that tests fix."""

    runner: LocalRunner = field(default_factory=LocalRunner)
    bug: dict[str, bool] = field(default_factory=lambda: {"ship": True, "charge": False})
    runs: Counter[str] = field(default_factory=Counter)
    order: Task[[str], dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        runner, bug, runs = self.runner, self.bug, self.runs

        @runner.task(name="shop.reserve")
        def reserve(order_id: str) -> str:
            runs["reserve"] += 1
            return f"R-{order_id}"

        @runner.task(name="shop.pack")
        def pack(order_id: str) -> str:
            runs["pack"] += 1
            return f"P-{order_id}"

        @runner.task(name="shop.ship")
        def ship(order_id: str) -> str:
            runs["ship"] += 1
            if bug["ship"]:
                raise ValueError("carrier code is None")
            return f"S-{order_id}"

        def charge(order_id: str) -> str:
            runs["charge"] += 1
            if bug["charge"]:
                raise KeyError("card")
            return f"C-{order_id}"

        @runner.task(name="shop.order")
        def order(order_id: str) -> dict[str, Any]:
            wf = order.wf
            wf.set_data("status", "reserving")
            reserved = wf.execute_task(reserve, order_id).result
            if bug.get("new_draw"):
                wf.random()  # a change without wf.patched, at seq 2
            wf.set_data("status", "packing")
            packed = wf.execute_task(pack, order_id).result
            paid = wf.deterministic("charge", charge, order_id)
            wf.set_data("status", "shipping")
            shipped = wf.execute_task(ship, order_id).result
            return {"r": reserved, "p": packed, "c": paid, "s": shipped, "n": wf.uuid()}

        self.order = order

    def failed(self) -> str:
        workflow_id = self.runner.start(self.order, "o1")
        self.runner.run_until_idle()
        assert self.runner.engine.workflow(workflow_id).status is WorkflowStatus.FAILED
        return workflow_id

    def verified(self, workflow_id: str) -> None:
        result = Replayer(self.runner.engine.task).replay(self.runner.store, workflow_id)
        assert result.divergence is None, result.divergence


def _kinds(runner: LocalRunner, workflow_id: str) -> list[str]:
    return [e.kind for e in runner.engine.history(workflow_id)]


# -- resume ------------------------------------------------------------------------------


def test_a_fixed_bug_in_the_third_child_resumes_without_rerunning_the_first_two() -> None:
    # Given an order whose third child failed for good because of a bug
    shop = Shop()
    workflow_id = shop.failed()
    assert shop.runs == Counter(reserve=1, pack=1, charge=1, ship=1)
    # When the bug is fixed and the workflow resumed
    shop.bug["ship"] = False
    resumed = shop.runner.engine.resume(workflow_id)
    shop.runner.run_until_idle()
    # Then it completes with the values it had, only the failed child ran again
    assert resumed.status is WorkflowStatus.PENDING
    result = shop.runner.engine.result(workflow_id)
    assert result["s"] == "S-o1"
    assert shop.runs == Counter(reserve=1, pack=1, charge=1, ship=2)
    assert "resumed" in _kinds(shop.runner, workflow_id)
    shop.verified(workflow_id)


def test_a_failed_step_runs_again_on_resume_and_its_failure_stays_in_the_history() -> None:
    # Given an order whose charge step raised (recorded as its value) and failed it
    shop = Shop()
    shop.bug.update(ship=False, charge=True)
    workflow_id = shop.failed()
    # When fixed and resumed
    shop.bug["charge"] = False
    shop.runner.engine.resume(workflow_id)
    shop.runner.run_until_idle()
    # Then the step ran again, the children before it did not, and the history says why
    assert shop.runner.engine.result(workflow_id)["c"] == "C-o1"
    assert shop.runs == Counter(reserve=1, pack=1, charge=2, ship=1)
    retracted = [
        e for e in shop.runner.engine.history(workflow_id) if e.kind == "operation_retracted"
    ]
    assert [e.value["operation"] for e in retracted] == ["deterministic('charge')"]
    assert "KeyError" in retracted[0].value["error"]
    shop.verified(workflow_id)


def test_a_bug_in_the_workflow_code_itself_is_resumed_past() -> None:
    runner = LocalRunner()
    bug = {"on": True}
    runs: Counter[str] = Counter()

    @runner.task(name="code.step")
    def step(n: int) -> int:
        runs[f"step{n}"] += 1
        return n

    @runner.task(name="code.flow")
    def flow() -> int:
        total = flow.wf.execute_task(step, 1).result + flow.wf.execute_task(step, 2).result
        if bug["on"]:
            raise ZeroDivisionError("oops")
        return int(total + flow.wf.execute_task(step, 3).result)

    workflow_id = runner.start(flow)
    runner.run_until_idle()
    bug["on"] = False
    runner.engine.resume(workflow_id)
    runner.run_until_idle()
    assert runner.engine.result(workflow_id) == 6
    assert runs == Counter(step1=1, step2=1, step3=1)


def test_a_cancelled_workflow_resumes_with_its_cancel_flag_cleared() -> None:
    # Given a workflow cancelled while it waited for a child that never ran
    shop = Shop()
    shop.bug["ship"] = False
    workflow_id = shop.runner.start(shop.order, "o1")
    shop.runner.step()  # the root starts reserve and suspends
    shop.runner.engine.cancel(workflow_id)
    shop.runner.run_until_idle()
    assert shop.runner.engine.workflow(workflow_id).status is WorkflowStatus.CANCELLED
    # When resumed
    record = shop.runner.engine.resume(workflow_id)
    shop.runner.run_until_idle()
    # Then it runs to the end
    assert record.cancel_requested is False
    assert shop.runner.engine.result(workflow_id)["s"] == "S-o1"
    assert shop.runs == Counter(reserve=1, pack=1, charge=1, ship=1)
    shop.verified(workflow_id)


def test_resuming_twice_does_one_thing() -> None:
    shop = Shop()
    workflow_id = shop.failed()
    shop.bug["ship"] = False
    shop.runner.engine.resume(workflow_id)
    with pytest.raises(RepairError, match="running, perhaps resumed already"):
        shop.runner.engine.resume(workflow_id)
    shop.runner.run_until_idle()
    assert shop.runs["ship"] == 2
    assert _kinds(shop.runner, workflow_id).count("resumed") == 2  # root and the ship child


def test_a_completed_or_unknown_workflow_is_not_resumed() -> None:
    shop = Shop()
    shop.bug["ship"] = False
    workflow_id = shop.runner.start(shop.order, "o1")
    shop.runner.run_until_idle()
    before = shop.runner.engine.history(workflow_id)
    with pytest.raises(RepairError, match=r"COMPLETED.*fork it"):
        shop.runner.engine.resume(workflow_id)
    with pytest.raises(WorkflowNotFoundError, match="nope"):
        shop.runner.engine.resume("nope")
    assert shop.runner.engine.history(workflow_id) == before
    assert shop.runner.step() is None  # nothing was sent


def test_an_unguarded_change_refuses_the_resume_and_writes_nothing() -> None:
    # Given a failed order, and code that changed before its failure without wf.patched
    shop = Shop()
    workflow_id = shop.failed()
    before = shop.runner.engine.history(workflow_id)
    shop.bug["ship"] = False
    original = shop.order.spec.fn

    def changed(order_id: str) -> Any:
        shop.order.wf.random()  # new, unguarded, before the recorded operations
        return original(order_id)

    object.__setattr__(shop.order.spec, "fn", changed)
    # When resumed, then the divergence is reported and nothing is written or sent
    with pytest.raises(NonDeterminismError, match=r"cannot resume .* nothing was written"):
        shop.runner.engine.resume(workflow_id)
    assert shop.runner.engine.workflow(workflow_id).status is WorkflowStatus.FAILED
    assert shop.runner.engine.history(workflow_id) == before
    assert shop.runner.step() is None


def test_a_change_guarded_by_patched_resumes_on_the_new_branch() -> None:
    shop = Shop()
    workflow_id = shop.failed()
    shop.bug["ship"] = False
    original = shop.order.spec.fn
    seen: list[bool] = []

    def changed(order_id: str) -> Any:
        seen.append(shop.order.wf.patched("audit"))
        return original(order_id)

    object.__setattr__(shop.order.spec, "fn", changed)
    shop.runner.engine.resume(workflow_id)
    shop.runner.run_until_idle()
    assert shop.runner.engine.result(workflow_id)["s"] == "S-o1"
    assert seen[-1] is False  # at the top, before recorded operations: the old branch


# -- fork --------------------------------------------------------------------------------


def test_fork_from_failure_reuses_the_prefix_and_runs_the_rest_with_new_children() -> None:
    shop = Shop()
    workflow_id = shop.failed()
    shop.bug["ship"] = False
    fork, created = shop.runner.engine.fork(workflow_id, from_failure=True)
    shop.runner.run_until_idle()
    assert created is True
    assert fork.forked_from == workflow_id
    assert fork.workflow_id != workflow_id
    assert shop.runner.engine.result(fork.workflow_id)["s"] == "S-o1"
    assert shop.runs == Counter(reserve=1, pack=1, charge=1, ship=2)
    # The original stays as it was; the fork's history starts with its lineage
    assert shop.runner.engine.workflow(workflow_id).status is WorkflowStatus.FAILED
    assert "forked_from" in _kinds(shop.runner, fork.workflow_id)
    invocations = shop.runner.store.list_invocations(fork.workflow_id)
    assert [i.task_name for i in invocations] == ["shop.order", "shop.ship"]
    shop.verified(fork.workflow_id)


def test_fork_from_a_step_reruns_it_and_what_follows() -> None:
    shop = Shop()
    workflow_id = shop.failed()
    shop.bug["ship"] = False
    fork, _ = shop.runner.engine.fork(workflow_id, from_step="shop.pack")
    shop.runner.run_until_idle()
    assert shop.runner.engine.result(fork.workflow_id)["p"] == "P-o1"
    assert shop.runs == Counter(reserve=1, pack=2, charge=2, ship=2)
    fork2, _ = shop.runner.engine.fork(workflow_id, from_step="charge")
    shop.runner.run_until_idle()
    assert shop.runner.engine.result(fork2.workflow_id)["c"] == "C-o1"
    assert shop.runs == Counter(reserve=1, pack=2, charge=3, ship=3)


def test_fork_from_seq_keeps_data_written_before_it_only() -> None:
    shop = Shop()
    workflow_id = shop.failed()
    # seq 0 set_data, 1 start reserve, 2 set_data, 3 start pack, 4 charge, 5 set_data, 6 ship
    fork, _ = shop.runner.engine.fork(workflow_id, from_seq=2)
    data = shop.runner.store.read_data(fork.workflow_id, "status")
    assert data is not None
    assert shop.runner.engine.codec.decode(data) == "reserving"
    shop.bug["ship"] = False
    shop.runner.run_until_idle()
    assert shop.runs == Counter(reserve=1, pack=2, charge=2, ship=2)
    shop.verified(fork.workflow_id)


def test_a_repeated_fork_id_returns_the_same_fork() -> None:
    shop = Shop()
    workflow_id = shop.failed()
    first, created = shop.runner.engine.fork(workflow_id, from_failure=True, fork_id="fix-42")
    again, created_again = shop.runner.engine.fork(workflow_id, from_failure=True, fork_id="fix-42")
    other, _ = shop.runner.engine.fork(workflow_id, from_failure=True, fork_id="fix-43")
    assert (created, created_again) == (True, False)
    assert again.workflow_id == first.workflow_id != other.workflow_id
    with pytest.raises(ConfigurationError, match="another fork point"):
        shop.runner.engine.fork(workflow_id, from_seq=0, fork_id="fix-42")


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"from_seq": 8}, ConfigurationError, "from_seq 8 is outside .* from 0 to 7"),
        ({"from_seq": -1}, ConfigurationError, "outside the history"),
        ({"from_seq": True}, ConfigurationError, "outside the history"),
        ({"from_step": "refund"}, ConfigurationError, "no step or child task named 'refund'"),
        ({}, ConfigurationError, "exactly one of"),
        ({"from_seq": 1, "from_failure": True}, ConfigurationError, "exactly one of"),
        ({"from_seq": 1, "fork_id": ""}, ConfigurationError, "fork_id must be"),
    ],
)
def test_bad_fork_requests_are_typed_errors_and_write_nothing(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    shop = Shop()
    workflow_id = shop.failed()
    with pytest.raises(error, match=match):
        shop.runner.engine.fork(workflow_id, **options)
    assert [w.workflow_id for w in shop.runner.store.list_workflows()] == [workflow_id]
    assert shop.runner.step() is None


def test_fork_of_an_unknown_workflow() -> None:
    with pytest.raises(WorkflowNotFoundError, match="nope"):
        LocalRunner().engine.fork("nope", from_seq=0)


def test_a_fork_at_or_before_a_divergence_works_after_it_is_refused() -> None:
    shop = Shop()
    workflow_id = shop.failed()
    shop.bug.update(ship=False, new_draw=True)
    with pytest.raises(NonDeterminismError, match="seq 2"):
        shop.runner.engine.fork(workflow_id, from_seq=3)
    assert len(shop.runner.store.list_workflows()) == 1
    fork, _ = shop.runner.engine.fork(workflow_id, from_seq=2)
    assert fork.forked_from == workflow_id


def test_a_fork_cannot_reuse_a_child_that_has_not_finished() -> None:
    shop = Shop()
    workflow_id = shop.runner.start(shop.order, "o1")
    shop.runner.step()  # started reserve, suspended
    with pytest.raises(RepairError, match="has not finished"):
        shop.runner.engine.fork(workflow_id, from_seq=2)
    fork, _ = shop.runner.engine.fork(workflow_id, from_seq=1)
    assert fork.forked_from == workflow_id


def test_a_failed_fork_can_be_resumed_and_a_failed_workflow_stays_failed_otherwise() -> None:
    shop = Shop()
    workflow_id = shop.failed()
    fork, _ = shop.runner.engine.fork(workflow_id, from_failure=True)
    shop.runner.run_until_idle()
    with pytest.raises(WorkflowFailedError):
        shop.runner.engine.result(fork.workflow_id)
    shop.bug["ship"] = False
    shop.runner.engine.resume(fork.workflow_id)
    shop.runner.run_until_idle()
    assert shop.runner.engine.result(fork.workflow_id)["s"] == "S-o1"


def test_a_failed_child_workflow_is_resumed_with_its_parent() -> None:
    # Given a parent whose child workflow (force_new_workflow) failed, and so the parent
    runner = LocalRunner()
    bug = {"on": True}
    runs: Counter[str] = Counter()

    @runner.task(name="tree.leaf")
    def leaf() -> str:
        runs["leaf"] += 1
        if bug["on"]:
            raise ValueError("bad")
        return "leaf"

    @runner.task(name="tree.child", force_new_workflow=True)
    def child() -> str:
        return str(child.wf.execute_task(leaf).result)

    @runner.task(name="tree.parent")
    def parent() -> str:
        return "parent+" + str(parent.wf.execute_task(child).result)

    workflow_id = runner.start(parent)
    runner.run_until_idle()
    [sub] = runner.store.child_workflows(workflow_id)
    assert sub.status is WorkflowStatus.FAILED
    # When fixed and the parent resumed
    bug["on"] = False
    runner.engine.resume(workflow_id)
    runner.run_until_idle()
    # Then the child workflow was resumed too and both completed
    assert runner.engine.result(workflow_id) == "parent+leaf"
    assert runner.engine.workflow(sub.workflow_id).status is WorkflowStatus.COMPLETED
    assert runs["leaf"] == 2
    assert Replayer(runner.engine.task).replay(runner.store, workflow_id).ok


def test_every_failed_child_of_the_failing_wait_runs_again() -> None:
    runner = LocalRunner()
    bug = {"on": True}
    runs: Counter[int] = Counter()

    @runner.task(name="pair.part")
    def part(n: int) -> int:
        runs[n] += 1
        if bug["on"] and n > 0:
            raise ValueError(f"part {n}")
        return n

    @runner.task(name="pair.flow")
    def flow() -> list[int]:
        wf = flow.wf
        handles = [wf.start_task(part, n) for n in (0, 1, 2)]
        return [r.result for r in wf.wait(*handles)]

    workflow_id = runner.start(flow)
    runner.run_until_idle()
    bug["on"] = False
    runner.engine.resume(workflow_id)
    runner.run_until_idle()
    assert runner.engine.result(workflow_id) == [0, 1, 2]
    assert runs == Counter({0: 1, 1: 2, 2: 2})
