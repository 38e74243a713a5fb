"""G3/G4/G6: a process that dies at any point of the protocol loses and changes nothing.

Each worker case arms one crash point (``tests.chaos.crashing.CRASH_POINTS``) in a real
``dramatiq`` worker process on Redis (RedisBroker + RedisStore), starts two ``parent``
workflows (random, uuid, utc_now, set_data, a deterministic step, two plain children and one
force_new child workflow started together, one wait, durable sleeps), lets the worker die there
(``os._exit(137)``: no ack, no cleanup), snapshots every recorded operation, and restarts a
worker (armed again: it must not crash twice). In the ``redelivered`` variant the broker keeps
the dead worker's unacked messages (RedisBroker requeues them after its heartbeat timeout); in
the ``broker-lost`` variant every broker key is deleted first (a broker restarted empty), so
only wfcore's recovery sweep can finish the job. Either way, within ``RECOVERY_BOUND``:

- every workflow completes, with the expected tree: 2 workflows, 5 invocations, 4 start_task
  entries (no child created or dispatched twice by a replay);
- every operation recorded before the crash is still there, byte for byte, after completion
  (same random, uuid, utc_now, data and child ids), and the results equal the histories;
- each child outcome and fired timer was recorded exactly once, each invocation committed its
  finish exactly once, each child message was sent at most once by parent runs (exactly once,
  except where the crash is that send, which the sweep then recovered);
- the strict replay of each workflow against the same code matches (``verify_replay``).

A last case kills a client process between creating a workflow and sending its message.
"""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

import pytest

from tests.chaos import starters
from tests.chaos.crashing import CRASH_ENV, CRASH_POINTS
from tests.chaos.harness import (
    ChaosDeployment,
    Snapshot,
    book_problems,
    check_tree,
    decode_op,
    prefix_violations,
    snapshot,
    tree_workflows,
    wait_all,
)
from tests.support.slow import SLOW_DUPLICATE
from wfcore import WorkflowStatus
from wfcore.store import StateStore

pytestmark = pytest.mark.redis

# Points where the crash loses a message nobody else would send (the crash marker names the
# invocations that lose it): only the recovery sweep can move them.
_LOST_SEND = {"after-record-before-enqueue", "after-outcome-recorded-before-wake"}

# Points that cut short the sending of the children one commit recorded (the parent sends
# them one by one after the commit): the unsent ones must be re-sent by the sweep.
_SENDS_CUT = {"after-record-before-enqueue", "after-record-before-enqueue-new-workflow"}


def ops_of(store: StateStore, workflow_id: str, invocation_id: str) -> list[tuple[str, str, Any]]:
    """(kind, name, value) of an invocation's recorded operations."""
    snap = store.load(workflow_id, invocation_id, claim=False)
    assert snap is not None
    return [decode_op(e) for e in snap.entries if e[0] != 0x94]


def check_leaf(store: StateStore, workflow_id: str, invocation_id: str, result: Any) -> None:
    """A leaf's result is what its history recorded."""
    ops = ops_of(store, workflow_id, invocation_id)
    assert [k for k, _, _ in ops] == ["random", "uuid", "utc_now", "set_data"]
    assert (result["random"], result["uuid"], result["now"]) == tuple(v for _, _, v in ops[:3])


def check_parent_result(store: StateStore, workflow_id: str, result: dict[str, Any]) -> None:
    """The parent's result (and its children's) equal the recorded values, position by position."""
    ops = ops_of(store, workflow_id, workflow_id)
    kinds = [k for k, _, _ in ops]
    assert kinds == ["random", "uuid", "utc_now", "set_data", "deterministic"] + [
        "start_task"
    ] * 3 + ["sleep", "utc_now", "set_data"]
    values = [v for _, _, v in ops]
    assert (result["random"], result["uuid"], result["t0"]) == tuple(values[:3])
    assert result["mark"] == values[4]
    assert result["t1"] == values[9]
    assert result["t1"].timestamp() >= values[8]  # after the sleep's fire time
    (a_inv, a_wf, *_), (b_inv, b_wf, *_), (c_inv, c_wf, *_) = values[5:8]
    assert a_wf == c_wf == workflow_id
    assert b_wf == result["sub_workflow"] != workflow_id
    check_leaf(store, a_wf, a_inv, result["children"][0])
    check_leaf(store, c_wf, c_inv, result["children"][2])
    sub_ops = ops_of(store, b_wf, b_inv)
    assert [k for k, _, _ in sub_ops] == ["uuid", "sleep", "start_task"]
    assert result["children"][1]["uuid"] == sub_ops[0][2]
    inner_inv, inner_wf = sub_ops[2][2][0], sub_ops[2][2][1]
    assert inner_wf == b_wf
    check_leaf(store, inner_wf, inner_inv, result["children"][1]["inner"])


RECOVERY_BOUND = 15.0
"""Seconds a restarted worker gets to finish everything. Recovery takes 1.5-4 s here (2 s
heartbeat timeout for Dramatiq's redelivery, 1 s stale_after + 0.5 s interval for the sweep,
two 0.3 s sleeps); the margin is for a loaded machine."""

WORKER_POINTS = [
    pytest.param(
        point,
        loss,
        id=f"{point}-{'broker-lost' if loss else 'redelivered'}",
    )
    for point in CRASH_POINTS
    # A client's, and the signal's (tests/chaos/test_signal_crash.py): ``parent`` sends none.
    if point not in ("after-start-before-enqueue", "after-signal-stored-before-wake")
    for loss in (False, True)
]


def check_recovered(
    chaos: ChaosDeployment,
    ids: list[str],
    results: list[Any],
    before: Snapshot,
    leaf_runs: dict[str, int],
    *,
    exact_dispatch: bool,
) -> None:
    """Every workflow completed as the code says, the pre-crash histories are intact, and
    nothing was created, recorded, finished or dispatched twice."""
    after = snapshot(chaos.store, ids)
    assert prefix_violations(before, after) == []
    reports = [check_tree(chaos.store, wid) for wid in ids]
    for wid, report, result in zip(ids, reports, results, strict=True):
        assert report.problems == [], (wid, report.problems)
        assert (report.workflows, report.invocations, report.start_tasks) == (2, 5, 4)
        for tree_wid in tree_workflows(chaos.store, wid):
            assert chaos.app.handle(tree_wid).status() is WorkflowStatus.COMPLETED
        check_parent_result(chaos.store, wid, result)
        replay = chaos.app.verify_replay(wid)
        assert replay.ok, replay.divergence
        assert replay.invocations == 5
    assert book_problems(chaos.book, reports, exact=True, dispatched_exact=exact_dispatch) == []
    assert len(leaf_runs) == 3 * len(ids)
    assert min(leaf_runs.values()) >= 1  # every leaf ran at least once


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("point", "loss"), WORKER_POINTS)
def test_a_worker_dying_at_a_crash_point_loses_and_changes_nothing(
    chaos: ChaosDeployment, point: str, loss: bool
) -> None:
    crash_and_recover(chaos, point, loss)


# One point in the default suite (a real worker dying before its sends, recovered by the
# sweep alone); the others with WFCORE_SLOW=1 (tests/support/slow.py).
_POSTGRES_DEFAULT_POINT = "after-record-before-enqueue"


@pytest.mark.postgres
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "point",
    [
        pytest.param(
            p.values[0],
            marks=() if p.values[0] == _POSTGRES_DEFAULT_POINT else SLOW_DUPLICATE,
        )
        for p in WORKER_POINTS
        if p.values[1]
    ],
)
def test_on_the_postgres_store_a_worker_dying_at_a_crash_point_loses_nothing(
    chaos_postgres: ChaosDeployment, point: str
) -> None:
    # The broker-lost variant: only the recovery sweep (recover_candidates) can finish the job.
    crash_and_recover(chaos_postgres, point, True)


def crash_and_recover(chaos: ChaosDeployment, point: str, loss: bool) -> None:
    """Arm a worker at ``point``, let it die there, restart one, check nothing was lost."""
    # Given a worker armed to die at the point, and two parent workflows started. One worker
    # thread, so that nothing else is in flight when it dies: the counts stay exact.
    armed = chaos.worker("armed", threads=1, crash_point=point).start()
    handles = [chaos.tasks.parent.send_with_options(args=(f"{point}-{i}",)) for i in range(2)]
    ids = [h.workflow_id for h in handles]
    # When it dies there
    code = armed.wait_exit(timeout=30)
    crashed_at = chaos.book.get(f"crash:{point}")
    assert crashed_at is not None, f"the worker exited ({code}) without reaching {point}"
    assert code == 137, armed.log()[-2000:]
    before = snapshot(chaos.store, ids)
    assert before, "nothing was recorded before the crash"
    if loss:
        # And (in the broker-lost variant) the broker restarts empty: the dead worker's
        # unacked messages, the queue and the delayed wake-ups are gone; only the sweep helps
        chaos.drop_broker_state()
    # And a worker (armed again: the marker makes the crash a one-off) takes over
    started = time.monotonic()
    chaos.worker("restarted", crash_point=point).start()
    results = wait_all(handles, timeout=RECOVERY_BOUND)
    recovery_s = time.monotonic() - started
    # Then every workflow completed, nothing recorded before the crash changed, and nothing
    # was duplicated (each child message sent at most once by parent runs; exactly once
    # except where the crash is that send)
    leaf_runs = chaos.book.counts("leaf-runs")  # before verify_replay runs the bodies again
    check_recovered(
        chaos,
        ids,
        results,
        before,
        leaf_runs,
        exact_dispatch=point not in _SENDS_CUT,
    )
    if point != "during-completion":  # there, both may have been done at the crash
        assert sum(map(len, snapshot(chaos.store, ids).values())) > sum(map(len, before.values()))
    # And where the crash lost the only message, the recovery sweep re-sent it
    if point in _LOST_SEND:
        swept = chaos.book.counts("swept")
        for lost in crashed_at.split(";"):
            assert swept.get(lost, 0) >= 1, f"{lost} was not re-sent by the sweep: {swept}"
    assert chaos.book.get(f"crash:{point}") == crashed_at  # crashed exactly once
    assert recovery_s < RECOVERY_BOUND


@pytest.mark.timeout(60)
def test_a_client_dying_between_create_and_send_loses_nothing(chaos: ChaosDeployment) -> None:
    # Given a client process armed to die after creating a workflow, before sending it
    point = "after-start-before-enqueue"
    wid = f"client-crash-{chaos.run}"
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tests.chaos.starters"])
    client = ctx.Process(target=starters.start_and_die, args=(chaos.env(**{CRASH_ENV: point}), wid))
    # When it starts the workflow and dies
    client.start()
    client.join(timeout=30)
    assert client.exitcode == 137
    assert chaos.book.get(f"crash:{point}") == wid
    # Then the workflow exists, PENDING, and no message was sent
    handle = chaos.app.handle(wid)
    assert handle.status() is WorkflowStatus.PENDING
    assert chaos.book.client.llen(f"{chaos.namespace}:default") == 0
    before = snapshot(chaos.store, [wid])
    # When a worker runs, the recovery sweep starts it, and it completes like any other
    chaos.worker("w").start()
    result = handle.result(timeout=RECOVERY_BOUND)
    leaf_runs = chaos.book.counts("leaf-runs")
    check_recovered(chaos, [wid], [result], before, leaf_runs, exact_dispatch=True)
    assert chaos.book.counts("swept").get(f"{wid} {wid}", 0) >= 1
