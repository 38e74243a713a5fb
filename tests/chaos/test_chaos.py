"""G4/G6 under chaos: workers SIGKILLed at random moments lose, fork and duplicate nothing.

``N`` workflows of mixed shapes (``tests.chaos.apps``: sequential plain children, a force_new
child workflow with a durable sleep, a fan-out of 10 children joined by one wait, a sleep
followed by random/utc_now) run on real Redis (RedisBroker + RedisStore) with two ``dramatiq``
worker processes. While any workflow is unfinished, one of the workers (sometimes both) is
SIGKILLed with its whole process group at a random moment and restarted; a snapshot of every
recorded operation is taken after each kill. Then:

- zero lost: every workflow COMPLETED with the result its arguments imply;
- zero divergent: every snapshot is a byte-for-byte prefix of the final histories, results
  equal the recorded values, and ``app.verify_replay(id)`` (strict replay against the same
  code) matches for every workflow tree;
- zero duplicated: each tree has exactly the expected workflows, invocations and start_task
  entries (no child created twice, no invocation no start_task made), each parent holds
  exactly the outcome its child recorded, and the bookkeeping saw no child outcome recorded
  twice, no finish committed twice and no child message sent twice by parent runs (a SIGKILL
  can fall between a store write and its count, so these are "at most once" here; the store
  itself shows the "at least once").

The bounded version runs in the default suite (N=200, about a minute on 2 cores). The long
version is marked ``slow`` and runs only when asked::

    WFCORE_CHAOS_N=2000 WFCORE_CHAOS_SECONDS=600 \\
        .venv/bin/pytest tests/chaos/test_chaos.py -m slow -p no:cacheprovider -s

The same chaos with the store in PostgreSQL (100 workflows) is a slow duplicate, run with
``WFCORE_SLOW=1`` (tests/support/slow.py).

``WFCORE_CHAOS_N`` is the number of workflows, ``WFCORE_CHAOS_SECONDS`` how long (at most) the
killing goes on (the test's time limit follows), ``WFCORE_CHAOS_SEED`` makes the kill schedule
repeatable (the seed in use is printed).
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.chaos.apps import FANOUT, expected_shape
from tests.chaos.harness import (
    ChaosDeployment,
    ChaosWorker,
    Snapshot,
    book_problems,
    check_tree,
    decode_op,
    prefix_violations,
    snapshot,
    wait_all,
)
from tests.support.slow import slow_duplicate
from wfcore import WorkflowStatus
from wfcore_dramatiq import WorkflowHandle

pytestmark = pytest.mark.redis

_LONG_N = os.environ.get("WFCORE_CHAOS_N")
_LONG_SECONDS = os.environ.get("WFCORE_CHAOS_SECONDS")


@dataclass
class ChaosRun:
    """What happened during one chaos run (printed at the end, asserted on)."""

    seed: int
    kills: int = 0
    snapshots: list[Snapshot] = field(default_factory=list)
    chaos_s: float = 0.0
    total_s: float = 0.0


def unfinished(handles: list[WorkflowHandle[Any]]) -> int:
    """How many workflows are not finished."""
    return sum(1 for h in handles if not h.status().finished)


def run_chaos(
    chaos: ChaosDeployment, n: int, chaos_seconds: float, finish_timeout: float
) -> tuple[ChaosRun, list[WorkflowHandle[Any]], list[Any]]:
    """Start ``n`` workflows, SIGKILL and restart workers until they finish (or the time is
    up), then wait for every result."""
    seed = int(os.environ.get("WFCORE_CHAOS_SEED") or random.randrange(1 << 30))
    print(f"chaos seed {seed} (WFCORE_CHAOS_SEED={seed} repeats the kill schedule)")
    rng = random.Random(seed)
    run = ChaosRun(seed)
    workers: list[ChaosWorker] = [chaos.worker(f"w{k}", threads=4).start() for k in range(2)]
    started = time.monotonic()
    deadline = started + chaos_seconds
    handles: list[WorkflowHandle[Any]] = []
    # Workflows keep arriving (a batch per round) while workers die, so kills hit every stage.
    while time.monotonic() < deadline and (len(handles) < n or unfinished(handles)):
        for i in range(len(handles), min(n, len(handles) + rng.randint(5, 25))):
            handles.append(chaos.tasks.mixed.send_with_options(args=(i,)))
        time.sleep(rng.uniform(0.2, 1.0))
        victims = workers if rng.random() < 0.15 else [rng.choice(workers)]
        for victim in victims:
            victim.kill()
            run.kills += 1
        time.sleep(rng.uniform(0.0, 0.4))
        for victim in victims:
            victim.start()
        # What is recorded now must still be there, unchanged, at the end (a sample, to
        # keep the rounds short).
        sample = rng.sample(handles, min(len(handles), 40))
        run.snapshots.append(snapshot(chaos.store, [h.workflow_id for h in sample]))
    for i in range(len(handles), n):  # only if the time ran out before all were started
        handles.append(chaos.tasks.mixed.send_with_options(args=(i,)))
    run.chaos_s = time.monotonic() - started
    results = wait_all(handles, timeout=finish_timeout)
    run.total_s = time.monotonic() - started
    return run, handles, results


def check_result(chaos: ChaosDeployment, i: int, workflow_id: str, result: dict[str, Any]) -> None:
    """The result is what ``mixed(i)`` implies, with the values its history recorded."""
    snap = chaos.store.load(workflow_id, workflow_id, claim=False)
    assert snap is not None
    ops = [decode_op(e) for e in snap.entries if e[0] != 0x94]
    assert result["i"] == i
    assert result["uuid"] == ops[0][2]
    kind = i % 4
    if kind == 0:
        assert [c["tag"] for c in result["children"]] == [f"{i}/a", f"{i}/b"]
    elif kind == 1:
        assert result["children"][0]["inner"]["tag"] == f"{i}/sub/inner"
    elif kind == 2:
        assert [c["tag"] for c in result["children"]] == [f"{i}/{k}" for k in range(FANOUT)]
    else:
        kinds = [k for k, _, _ in ops]
        assert kinds == ["uuid", "sleep", "random", "utc_now", "set_data"]
        assert (result["random"], result["now"]) == (ops[2][2], ops[3][2])
        assert result["now"].timestamp() >= ops[1][2]


def check_run(chaos: ChaosDeployment, run: ChaosRun, handles: list[WorkflowHandle[Any]],
              results: list[Any]) -> None:  # fmt: skip
    """Zero lost, zero divergent, zero duplicated (see the module docstring)."""
    ids = [h.workflow_id for h in handles]
    runs = chaos.book.counts("leaf-runs")  # before verify_replay, which runs the bodies again
    # Zero lost
    assert [h.status() for h in handles] == [WorkflowStatus.COMPLETED] * len(handles)
    # Zero divergent
    final = snapshot(chaos.store, ids)
    for k, snap in enumerate(run.snapshots):
        assert prefix_violations(snap, final) == [], f"snapshot of round {k + 1}"
    reports = []
    for i, (wid, result) in enumerate(zip(ids, results, strict=True)):
        check_result(chaos, i, wid, result)
        replay = chaos.app.verify_replay(wid)
        assert replay.ok, (wid, replay.divergence)
        # Zero duplicated: exactly the expected tree
        report = check_tree(chaos.store, wid)
        assert report.problems == [], (wid, report.problems)
        assert (report.workflows, report.invocations, report.start_tasks) == expected_shape(i)
        reports.append(report)
    assert book_problems(chaos.book, reports, exact=False) == []
    leaves = sum((2, 1, FANOUT, 0)[i % 4] for i in range(len(ids)))
    assert len(runs) == leaves  # every leaf body ran (at least once)
    print(
        f"chaos: {len(ids)} workflows, {sum(r.invocations for r in reports)} invocations, "
        f"{run.kills} kills in {run.chaos_s:.1f} s, all done after {run.total_s:.1f} s; "
        f"leaf bodies ran {sum(runs.values())} times for {len(runs)} leaves; "
        f"{sum(chaos.book.counts('processed').values())} messages processed, "
        f"{sum(chaos.book.counts('swept').values())} re-sent by sweeps"
    )


@pytest.mark.timeout(150)
def test_chaos_sigkilled_workers_lose_nothing(chaos: ChaosDeployment) -> None:
    # Given 200 workflows of mixed shapes and two workers SIGKILLed at random until done
    run, handles, results = run_chaos(chaos, 200, chaos_seconds=60, finish_timeout=60)
    # Then nothing was lost, diverged or duplicated
    assert run.kills >= 8, "the workflows finished before the chaos could bite"
    check_run(chaos, run, handles, results)


@pytest.mark.slow
@pytest.mark.skipif(
    not (_LONG_N or _LONG_SECONDS),
    reason="long chaos run: set WFCORE_CHAOS_N and/or WFCORE_CHAOS_SECONDS",
)
@pytest.mark.timeout(int(float(_LONG_SECONDS or 600)) + 900)
def test_chaos_long_run(chaos: ChaosDeployment) -> None:
    n = int(_LONG_N or 2000)
    seconds = float(_LONG_SECONDS or 600)
    run, handles, results = run_chaos(chaos, n, chaos_seconds=seconds, finish_timeout=600)
    check_run(chaos, run, handles, results)


@slow_duplicate
@pytest.mark.postgres
@pytest.mark.timeout(150)
def test_chaos_on_the_postgres_store_sigkilled_workers_lose_nothing(
    chaos_postgres: ChaosDeployment,
) -> None:
    # Given 100 workflows of mixed shapes on a PostgreSQL store and two workers SIGKILLed at
    # random until done
    run, handles, results = run_chaos(chaos_postgres, 100, chaos_seconds=40, finish_timeout=60)
    # Then nothing was lost, diverged or duplicated
    assert run.kills >= 4, "the workflows finished before the chaos could bite"
    check_run(chaos_postgres, run, handles, results)
