"""B6: cost growth of long workflows; prints one JSON object.

- ``sequential``: one workflow of N sequential ``execute_task`` children, N = 10 ... 5000, on
  the memory, SQLite and Redis stores (``LocalRunner``, in process): total seconds, cost per
  step, the last resume (the root's last run, which replays N children) and that resume per
  replayed child.
- ``continue_as_new``: the same N steps, the workflow continuing as new every 500 steps:
  the cost per step must stay flat in N.
- ``workers``: N sequential children on real ``dramatiq`` worker processes (Redis broker
  and store).
- ``big_store``: B1's per-operation cost (``random``, ``deterministic``) on a store that
  holds 100k finished workflows, next to the same on an empty store in the same run; and
  a resume of a workflow with a 10k-entry history, per replayed entry, next to B1's replay.

``--baseline DIR`` runs the same measurements, in a subprocess, against the wfcore checkout
in DIR (e.g. a ``git worktree`` of main) and reports both, with ratios; what DIR's wfcore
lacks (``continue_as_new``) is reported as unavailable.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SRC = os.environ.get("WFCORE_B6_SRC")
if __package__ in (None, ""):  # run as a script: make `benchmarks` and `tests` importable
    sys.path.insert(0, str(ROOT))
if SRC:  # the checkout to measure (--baseline): its wfcore first
    sys.path.insert(0, SRC)

from benchmarks._redis import redis_server  # noqa: E402
from wfcore import LocalRunner, StateStore, open_store  # noqa: E402
from wfcore.store.sqlite import SQLiteStore  # noqa: E402

TARGETS = {"memory_n2000_total_s": 3.0, "memory_n2000_last_resume_ms": 3.0, "replay_us": 2.0}
FLAT = 1.25  # per-step cost at the largest N over the smallest, with continue_as_new
BIG_STORE_RATIO = 1.2
EVERY = 500


def log(message: str) -> None:
    print(f"[b6] {message}", file=sys.stderr, flush=True)


def _app(store: StateStore) -> tuple[LocalRunner, Any, Any]:
    runner = LocalRunner(store)

    @runner.task(name="b6.child")
    def child(i: int) -> int:
        return i

    @runner.task(name="b6.chain")
    def chain(n: int) -> int:
        wf = chain.wf
        total = 0
        for i in range(n):
            total += wf.execute_task(child, i).result
        return total

    @runner.task(name="b6.cycle")
    def cycle(done: int, n: int, total: int) -> int:
        wf = cycle.wf
        for i in range(done, min(n, done + EVERY)):
            total += wf.execute_task(child, i).result
        if done + EVERY < n:
            wf.continue_as_new(done + EVERY, n, total)
        return total

    return runner, chain, cycle


def _timed_roots(runner: LocalRunner) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of the runs of root invocations (no '.' child suffix), appended
    as they end. CPU time is this process's: on a shared machine it is the steadier one."""
    durations: list[tuple[float, float]] = []
    run = runner.engine.run

    def timed(ref: Any, **options: Any) -> Any:
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return run(ref, **options)
        finally:
            if "." not in ref.invocation_id.removeprefix(ref.workflow_id):
                durations.append((time.perf_counter() - t0, time.process_time() - c0))

    runner.engine.run = timed  # type: ignore[method-assign]
    return durations


def one_chain(url: str, n: int, continuing: bool) -> dict[str, Any]:
    store = open_store(url)
    try:
        runner, chain, cycle = _app(store)
        roots = _timed_roots(runner)
        t0, c0 = time.perf_counter(), time.process_time()
        workflow_id = runner.start(cycle, 0, n, 0) if continuing else runner.start(chain, n)
        runner.run_until_idle(max_messages=10 * n + 100)
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
        if runner.engine.result(workflow_id) != n * (n - 1) // 2:
            raise AssertionError(f"b6 chain of {n} returned a wrong sum")
    finally:
        store.close()
    return {
        "total_s": round(total, 4),
        "per_step_us": round(total / n * 1e6, 2),
        "cpu_s": round(cpu, 4),
        "per_step_cpu_us": round(cpu / n * 1e6, 2),
        "last_resume_ms": round(roots[-1][0] * 1e3, 3),
        "last_resume_cpu_ms": round(roots[-1][1] * 1e3, 3),
        "last_resume_per_replayed_child_us": round(roots[-1][0] / n * 1e6, 3),
    }


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in runs[0]:
        values = [r[key] for r in runs]
        out[key] = {"min": min(values), "median": statistics.median(values), "max": max(values)}
    return out


@contextmanager
def store_urls(stores: list[str]) -> Iterator[dict[str, Callable[[], str]]]:
    """A fresh store URL per call, for each store kind asked for."""
    with tempfile.TemporaryDirectory(prefix="wfcore-b6-") as tmp:
        urls: dict[str, Callable[[], str]] = {}
        counter = iter(range(1_000_000))
        urls["memory"] = lambda: "memory://"
        urls["sqlite"] = lambda: f"sqlite:///{tmp}/s{next(counter)}.db"
        if "redis" in stores:
            with redis_server() as server:
                base = server.url()
                urls["redis"] = lambda: f"{base}?prefix=b6-{next(counter)}"
                yield {k: v for k, v in urls.items() if k in stores}
                return
        yield {k: v for k, v in urls.items() if k in stores}


def chains(
    stores: list[str], sizes: dict[str, list[int]], rounds: int, continuing: bool
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with store_urls(stores) as urls:
        for name, url in urls.items():
            out[name] = {}
            for n in sizes[name]:
                runs = [one_chain(url(), n, continuing) for _ in range(rounds)]
                out[name][str(n)] = _summary(runs)
                med = out[name][str(n)]
                log(
                    f"{'continue' if continuing else 'chain':8} {name:6} N={n:5}: "
                    f"{med['total_s']['median']:.3f} s, "
                    f"{med['per_step_us']['median']:.1f} us/step, last resume "
                    f"{med['last_resume_ms']['median']:.3f} ms"
                )
    return out


def workers(sizes: list[int], rounds: int) -> dict[str, Any]:
    """N sequential children on real `dramatiq` worker processes (Redis broker and store)."""
    from benchmarks._workers import WorkerSettings, running_rig

    settings = WorkerSettings(processes=1, threads=4, worker_timeout_ms=100)
    out: dict[str, Any] = {"workers": settings.as_json()}
    with running_rig(settings) as rig:
        chain = rig.bench.b8.chain
        for n in sizes:
            runs = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                handle = chain.send_with_options(args=(n,))
                if handle.result(timeout=600) != n * (n - 1) // 2:
                    raise AssertionError("b8_chain returned a wrong sum")
                total = time.perf_counter() - t0
                runs.append({"total_s": round(total, 4), "per_step_ms": round(total / n * 1e3, 3)})
            out[str(n)] = _summary(runs)
            log(f"workers N={n}: {out[str(n)]['total_s']['median']:.3f} s")
    return out


def _replay_round(kind: str, n: int) -> float:
    """µs per replayed operation of ``kind`` in the last resumes of one workflow."""
    runner = LocalRunner()
    loops: list[float] = []

    @runner.task(name="b6.r.child")
    def child(i: int) -> int:
        return i

    @runner.task(name="b6.r.flow")
    def flow(n: int, kind: str) -> int:
        wf = flow.wf
        t0 = time.perf_counter()
        for i in range(n):
            if kind == "random":
                wf.random()
            elif kind == "execute_task":
                wf.execute_task(child, i)
            elif kind == "sleep":
                wf.sleep(0)
            else:
                wf.wait_signal("s")
        loops.append(time.perf_counter() - t0)
        return sum(wf.execute_task(child, -1).result for _ in range(5))

    workflow_id = runner.start(flow, n, kind)
    if kind == "wait_signal":
        for i in range(n):
            runner.engine.signal(workflow_id, "s", i)
    runner.run_until_idle()
    return min(loops[-3:]) / n * 1e6


def replay_costs(n: int, rounds: int) -> dict[str, Any]:
    """Per replayed operation, in the last of several resumes (memory store, µs): a
    workflow runs ``n`` operations of one kind, then 5 sequential children; each resume
    replays the ``n`` operations, timed inside the body (best of the last three)."""
    out: dict[str, Any] = {}
    for kind in ("random", "execute_task", "sleep", "wait_signal"):
        per_op = [_replay_round(kind, n) for _ in range(rounds)]
        out[kind] = {
            "min": round(min(per_op), 3),
            "median": round(statistics.median(per_op), 3),
            "max": round(max(per_op), 3),
        }
        log(f"replay {kind:12}: {out[kind]['median']:.3f} us per replayed operation")
    return out


def _populate(store: StateStore, count: int) -> None:
    """``count`` finished workflows, written straight through the store's API."""
    from wfcore._codec import Codec
    from wfcore._history import encode_lifecycle, encode_outcome
    from wfcore._identity import new_workflow_seed
    from wfcore._models import Batch, Finish, InvocationRecord, WorkflowRecord, WorkflowStatus

    codec = Codec()
    now = time.time()
    args = codec.encode([[], {}])
    done = Finish(WorkflowStatus.COMPLETED, encode_outcome(codec, WorkflowStatus.COMPLETED, 1, ""))
    event = encode_lifecycle(codec, "task_completed", None, 1)
    if isinstance(store, SQLiteStore):  # one transaction: 100k commits would take minutes
        _populate_sqlite(store, count, args, done, event, now)
        return
    for i in range(count):
        wid = f"done-{i}"
        record = WorkflowRecord(
            workflow_id=wid, workflow_type="b6.done", root_workflow_id=wid,
            root_invocation_id=wid, created_at=now, updated_at=now, seed=new_workflow_seed(),
        )  # fmt: skip
        root = InvocationRecord(
            invocation_id=wid, workflow_id=wid, task_name="b6.done", args=args,
            created_at=now, updated_at=now,
        )  # fmt: skip
        store.create_workflow(record, root)
        store.load(wid, wid)
        store.commit(wid, wid, Batch(0, [event], finish=done))


def _populate_sqlite(
    store: Any, count: int, args: bytes, done: Any, event: bytes, now: float
) -> None:
    """As ``_populate``, the rows the store would write, inserted in one transaction."""
    from wfcore._identity import new_workflow_seed
    from wfcore._models import InvocationRecord, WorkflowRecord, WorkflowStatus
    from wfcore.store import _sqlite_layout as layout

    wf_rows, inv_rows, entries = [], [], []
    for i in range(count):
        wid = f"done-{i}"
        record = WorkflowRecord(
            workflow_id=wid, workflow_type="b6.done", root_workflow_id=wid,
            root_invocation_id=wid, created_at=now, updated_at=now, seed=new_workflow_seed(),
            status=WorkflowStatus.COMPLETED,
        )  # fmt: skip
        root = InvocationRecord(
            invocation_id=wid, workflow_id=wid, task_name="b6.done", args=args, attempts=1,
            status=WorkflowStatus.COMPLETED, outcome=done.outcome, created_at=now,
            updated_at=now,
        )  # fmt: skip
        wf_rows.append(layout.wf_values(record))
        inv_rows.append(layout.invocation_to_row(wid, root))
        entries.append((wid, wid, 0, event))
    with store._transaction() as conn:
        conn.executemany(layout.INSERT_WF, wf_rows)
        conn.executemany(layout.INSERT_INV, inv_rows)
        conn.executemany("INSERT INTO entries VALUES (?, ?, ?, ?)", entries)


def _b1_ops(store: StateStore, n: int, repeats: int) -> dict[str, Any]:
    from benchmarks.b1_operations import Bench

    bench = Bench(store)
    keys = [f"k{i}" for i in range(n)]
    out: dict[str, Any] = {}
    for kind in ("random", "deterministic"):
        bench.measure(kind, keys)  # warm-up
        samples = [bench.measure(kind, keys) for _ in range(repeats)]
        out[kind] = {
            "first_us": round(statistics.median(s.first_amortised for s in samples) / n * 1e6, 3),
            "replay_us": round(statistics.median(s.replay_body for s in samples) / n * 1e6, 3),
        }
    return out


def _long_history(store: StateStore, entries: int, rounds: int) -> dict[str, Any]:
    """A resume of a workflow whose root history holds ``entries`` operations, per entry."""
    runner = LocalRunner(store)

    @runner.task(name="b6.h.child")
    def child() -> int:
        return 1

    @runner.task(name="b6.h.long")
    def long(n: int, waits: int) -> int:
        wf = long.wf
        for _ in range(n):
            wf.random()
        return sum(wf.execute_task(child).result for _ in range(waits))

    roots = _timed_roots(runner)
    runner.start(long, entries, rounds + 1)
    runner.run_until_idle()
    resumes = roots[2:]  # the first run records, the first resume decodes once
    wall = statistics.median(r[0] for r in resumes)
    cpu = statistics.median(r[1] for r in resumes)
    return {
        "entries": entries,
        "resume_ms": round(wall * 1e3, 3),
        "resume_cpu_ms": round(cpu * 1e3, 3),
        "resume_per_entry_us": round(wall / entries * 1e6, 3),
    }


def big_store(stores: list[str], stored: int, n: int, repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {"stored_workflows": stored}
    with store_urls(stores) as urls:
        for name, url in urls.items():
            empty, big = open_store(url()), open_store(url())
            try:
                t0 = time.perf_counter()
                _populate(big, stored)
                took = time.perf_counter() - t0
                log(f"big    {name:6}: {stored} finished workflows in {took:.1f} s")
                base, loaded = _b1_ops(empty, n, repeats), _b1_ops(big, n, repeats)
                history = _long_history(big, 10_000, 3)
            finally:
                empty.close()
                big.close()
            ratios = {
                f"{kind}_{side}": round(loaded[kind][side] / base[kind][side], 3)
                for kind in base
                for side in ("first_us", "replay_us")
            }
            out[name] = {
                "b1_empty_store": base,
                "b1_big_store": loaded,
                "ratio_big_over_empty": ratios,
                "history_10k": history,
                "history_10k_resume_per_entry_over_b1_random_replay": round(
                    history["resume_per_entry_us"] / base["random"]["replay_us"], 3
                ),
            }
            log(f"big    {name:6}: ratios {ratios}, 10k history {history}")
    return out


def measure(args: argparse.Namespace) -> dict[str, Any]:
    stores = args.stores.split(",")
    largest = {"memory": args.max_n, "sqlite": args.max_n_store, "redis": args.max_n_store}
    sizes = {s: [n for n in args.sizes if n <= largest[s]] for s in stores}
    result: dict[str, Any] = {"sizes": sizes}
    result["replay_us"] = replay_costs(200 if args.quick else 2000, args.rounds)
    result["sequential"] = chains(stores, sizes, args.rounds, continuing=False)
    try:
        from wfcore.context.continuing import Continuing  # noqa: F401
    except ImportError:
        result["continue_as_new"] = "unavailable in this checkout"
    else:
        result["continue_as_new"] = chains(stores, sizes, args.rounds, continuing=True)
    if args.workers:
        result["workers"] = workers([n for n in args.sizes if n <= args.max_n_workers], args.rounds)
    if args.stored:
        result["big_store"] = big_store(stores, args.stored, args.b1_n, args.rounds)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    parser.add_argument("--stores", default="memory,sqlite,redis")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", action="store_true", help="also real dramatiq workers")
    parser.add_argument("--stored", type=int, default=None, help="finished workflows stored")
    parser.add_argument("--baseline", default=None, help="a wfcore checkout to measure too")
    parser.add_argument("--max-n", type=int, default=None, help="largest N, memory store")
    parser.add_argument("--max-n-store", type=int, default=None, help="largest N, SQLite/Redis")
    parser.add_argument(
        "--baseline-max-n", type=int, default=2000, help="largest N of the baseline (any store)"
    )
    args = parser.parse_args(argv)
    args.sizes = [10, 100, 500] if args.quick else [10, 100, 500, 1000, 2000, 5000]
    args.max_n = args.max_n or (500 if args.quick else 5000)
    args.max_n_store = args.max_n_store or (500 if args.quick else 2000)
    args.max_n_workers = 100 if args.quick else 500
    args.b1_n = 200 if args.quick else 2000
    if args.stored is None:
        args.stored = 500 if args.quick else 100_000
    if args.quick:
        args.rounds = min(args.rounds, 1)
    report: dict[str, Any] = {
        "benchmark": "B6",
        "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "rounds": args.rounds,
        "targets": {**TARGETS, "continue_as_new_flat_ratio": FLAT, "big_store": BIG_STORE_RATIO},
    }
    if args.baseline:
        log(f"baseline: {args.baseline}")
        forwarded = [a for a in (argv or sys.argv[1:]) if not a.startswith("--baseline")]
        forwarded = [a for a in forwarded if a != args.baseline]
        cap = str(args.baseline_max_n)
        forwarded += ["--max-n", cap, "--max-n-store", str(min(args.max_n_store, int(cap)))]
        env = {**os.environ, "WFCORE_B6_SRC": args.baseline, "PYTHONPATH": args.baseline}
        out = subprocess.run(
            [sys.executable, __file__, *forwarded], env=env, capture_output=True, text=True
        )
        sys.stderr.write(out.stderr)
        out.check_returncode()
        report["baseline"] = json.loads(out.stdout)["result"]
    report["result"] = measure(args)
    report["targets_met"] = _targets(report["result"])
    print(json.dumps(report, indent=2))
    return 0


def _targets(result: dict[str, Any]) -> dict[str, Any]:
    met: dict[str, Any] = {}
    replay = result.get("replay_us", {})
    met["replay_us"] = {k: v["median"] <= TARGETS["replay_us"] for k, v in replay.items()}
    memory = result["sequential"].get("memory", {})
    if "2000" in memory:
        met["memory_n2000_total_s"] = (
            memory["2000"]["total_s"]["median"] <= TARGETS["memory_n2000_total_s"]
        )
        met["memory_n2000_last_resume_ms"] = (
            memory["2000"]["last_resume_ms"]["median"] <= TARGETS["memory_n2000_last_resume_ms"]
        )
    cont = result.get("continue_as_new")
    if isinstance(cont, dict):
        for name, by_n in cont.items():
            ns = sorted(by_n, key=int)
            if len(ns) > 1 and int(ns[-1]) >= 2 * EVERY:
                small = next(n for n in ns if int(n) >= EVERY)
                cost = [by_n[n]["per_step_cpu_us"]["median"] for n in (ns[-1], small)]
                ratio = cost[0] / cost[1]
                met[f"continue_as_new_flat_{name}"] = {
                    "ratio": round(ratio, 3),
                    "met": ratio <= FLAT,
                }
    return met


if __name__ == "__main__":
    sys.exit(main())
