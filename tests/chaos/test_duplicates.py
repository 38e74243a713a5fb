"""G3/G4: duplicate deliveries, concurrent and sequential, give one consistent history.

Dramatiq is at-least-once, so one invocation may run twice at the same time (two workers got
copies of its message) or again after it finished. The store keeps the first writer per
position; a losing run aborts and replays with the winner's values. These tests force the
collisions: the ``racer`` workflow computes random/uuid/utc_now and then meets its duplicate at a
cross-process rendezvous inside a ``wf.deterministic`` step, so both runs try to commit the
same positions with (for ``utc_now``) different values.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.chaos.harness import (
    ChaosDeployment,
    book_problems,
    check_tree,
    decode_op,
    snapshot,
    wait_all,
    wait_for,
)
from wfcore import InvocationRef, RunResult, RunStatus
from wfcore.store import StateStore

pytestmark = pytest.mark.redis


def full_entries(store: StateStore, refs: list[InvocationRef]) -> dict[str, list[bytes]]:
    """Every stored entry (operations and lifecycle events) and the outcome of invocations."""
    out: dict[str, list[bytes]] = {}
    for ref in refs:
        snap = store.load(ref.workflow_id, ref.invocation_id, claim=False)
        assert snap is not None
        outcome = snap.invocation.outcome or b""
        out[ref.invocation_id] = [*snap.entries, outcome, *sorted(snap.outcomes.values())]
    return out


def refs_of(store: StateStore, workflow_id: str) -> list[InvocationRef]:
    """The refs of a workflow's invocations."""
    return [inv.ref for inv in store.list_invocations(workflow_id)]


def check_racer(chaos: ChaosDeployment, workflow_id: str, result: dict[str, Any]) -> None:
    """One history, the result equal to it, one child, and the strict replay matches."""
    snap = chaos.store.load(workflow_id, workflow_id, claim=False)
    assert snap is not None
    ops = [decode_op(e) for e in snap.entries if e[0] != 0x94]
    kinds = [k for k, _, _ in ops]
    assert kinds == ["random", "uuid", "utc_now", "deterministic", "start_task", "set_data"]
    values = [v for _, _, v in ops]
    assert (result["random"], result["uuid"], result["now"], result["met"]) == tuple(values[:4])
    report = check_tree(chaos.store, workflow_id)
    assert report.problems == []
    assert (report.workflows, report.invocations, report.start_tasks) == (1, 2, 1)
    replay = chaos.app.verify_replay(workflow_id)
    assert replay.ok, replay.divergence


@pytest.mark.timeout(60)
def test_concurrent_runs_of_one_invocation_in_threads_keep_one_history(
    chaos: ChaosDeployment,
) -> None:
    # Given racer workflows whose messages nobody consumes (no worker): the test delivers
    engine = chaos.app.engine
    tasks = chaos.tasks
    rounds = 5
    handles = [tasks.racer.send_with_options(args=(f"t{i}", 2)) for i in range(rounds)]

    def run_twice(ref: InvocationRef) -> list[RunResult]:
        """Two deliveries of ``ref`` running at one instant (two threads)."""
        start = threading.Barrier(2)

        def run() -> RunResult:
            start.wait()
            return engine.run(ref)

        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(run) for _ in range(2)]
            return [f.result(timeout=30) for f in futures]

    for handle in handles:
        wid = handle.workflow_id
        root = InvocationRef(wid, wid, "racer")
        # When two deliveries of the root run at once, up to its wait on the child
        first = run_twice(root)
        assert [r.status for r in first] == [RunStatus.SUSPENDED] * 2
        # And two of the child, then two of the woken root
        child = next(r for r in refs_of(chaos.store, wid) if r.invocation_id != wid)
        child_runs = run_twice(child)
        assert sorted(r.status for r in child_runs) == [RunStatus.COMPLETED, RunStatus.SKIPPED]
        last = run_twice(root)
        # (counted before verify_replay below, which runs the body once more)
        body_runs = chaos.book.value("racer-runs", wid)
        # Then exactly one run completed it, and both saw the same recorded values
        done = [r for r in last if r.status is RunStatus.COMPLETED]
        assert len(done) == 1, last
        assert {r.status for r in last} <= {RunStatus.COMPLETED, RunStatus.SKIPPED}
        result = done[0].value
        assert result["met"] == 2  # both runs really met inside the step before committing
        check_racer(chaos, wid, result)
        # And both child runs returned the one recorded result
        child_values = [r.value for r in child_runs if r.status is RunStatus.COMPLETED]
        assert all(v == result["child"] for v in child_values)
        # And later (sequential) duplicates of every invocation change nothing
        before = full_entries(chaos.store, [root, child])
        for ref in (root, child, root):
            assert engine.run(ref).status is RunStatus.SKIPPED
        assert full_entries(chaos.store, [root, child]) == before
        assert handle.result(timeout=1) == result
        # Both first runs, the loser's replay, and at least one run of the woken root
        assert body_runs >= 4
    # And every outcome and finish was recorded once, every child sent once
    reports = [check_tree(chaos.store, h.workflow_id) for h in handles]
    assert book_problems(chaos.book, reports, exact=True, dispatched_exact=True) == []


@pytest.mark.timeout(90)
def test_duplicate_messages_through_real_workers_keep_one_history(
    chaos: ChaosDeployment,
) -> None:
    # Given two worker processes
    for name in ("w1", "w2"):
        chaos.worker(name, threads=4).start()
    broker = chaos.app.broker
    tasks = chaos.tasks
    # When each racer's root message is delivered three times (the start's message, and one
    # more message enqueued twice: the same message id twice), concurrently
    handles = [tasks.racer.send_with_options(args=(f"p{i}", 2)) for i in range(4)]
    for handle in handles:
        wid = handle.workflow_id
        extra = tasks.racer.actor.message_with_options(
            args=(), kwargs={}, wfcore={"workflow_id": wid, "invocation_id": wid}
        )
        broker.enqueue(extra)
        broker.enqueue(extra)
    results = wait_all(handles, timeout=60)
    ids = [h.workflow_id for h in handles]
    # Then each workflow has one history, equal to what it returned, and one child
    for wid, result in zip(ids, results, strict=True):
        assert result["met"] >= 2  # at least two deliveries met inside the step
        check_racer(chaos, wid, result)
    reports = [check_tree(chaos.store, wid) for wid in ids]
    assert book_problems(chaos.book, reports, exact=True, dispatched_exact=True) == []
    processed = chaos.book.counts("processed")
    for wid in ids:
        assert processed.get(f"{wid} {wid}", 0) >= 3  # every copy was delivered
    # When every invocation's message is delivered twice more, after the workflows finished
    before = snapshot(chaos.store, ids)
    refs = [ref for wid in ids for ref in refs_of(chaos.store, wid)]
    entries = full_entries(chaos.store, refs)
    seen = chaos.book.counts("processed")
    for ref in refs:
        for _ in range(2):
            chaos.app.engine.dispatcher.enqueue(ref)

    def all_processed() -> bool:
        now = chaos.book.counts("processed")
        return all(
            now.get(f"{r.workflow_id} {r.invocation_id}", 0)
            >= seen.get(f"{r.workflow_id} {r.invocation_id}", 0) + 2
            for r in refs
        )

    wait_for(all_processed, timeout=30, what="the late duplicates to be processed")
    # Then nothing changed: no entry, outcome, child, or count
    assert snapshot(chaos.store, ids) == before
    assert full_entries(chaos.store, refs) == entries
    assert book_problems(chaos.book, reports, exact=True, dispatched_exact=True) == []
    assert [h.result(timeout=1) for h in handles] == results
