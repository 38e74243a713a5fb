"""B1: per-operation cost of the ``wf.*`` operations, first execution and replay, per store."""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from time import perf_counter
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repo root (and `benchmarks`) importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from benchmarks._redis import BenchRedis, redis_server, redis_server_version
from tests.support.redis_traffic import Traffic, count_traffic
from wfcore import LocalRunner, RunStatus, StateStore, Task, WorkflowContext, current, open_store

OPS = ("random", "uuid", "utc_now", "set_data", "get_data", "deterministic")
# Recorded in memory, written by the next commit (the boundary that ends the ops loop).
BUFFERED = ("random", "uuid", "utc_now", "set_data")
ONE_ROUND_TRIP = ("deterministic", "set_data")  # at most one round trip each (a step commits)

REPLAY_TARGET_US = 5.0
FIRST_BUFFERED_TARGET_US = 15.0
ROUND_TRIP_TARGET = 1.0

PYNENC_QUOTED = {
    "first_us": [240, 550],
    "replay_us": [50, 130],
    "note": "QUOTED, not measured by this script: Pynenc's numbers on this machine as given "
    "in the B1 brief",
}


def log(message: str) -> None:
    """Progress goes to stderr; stdout carries only the JSON result."""
    print(f"[b1] {message}", file=sys.stderr, flush=True)


# -- the workflow under test -------------------------------------------------------------


def _one() -> int:
    return 1


def _run_ops(wf: WorkflowContext, kind: str, keys: list[str]) -> None:
    """``len(keys)`` operations of one kind, written the way user code would write them."""
    if kind == "random":
        for _ in keys:
            wf.random()
    elif kind == "uuid":
        for _ in keys:
            wf.uuid()
    elif kind == "utc_now":
        for _ in keys:
            wf.utc_now()
    elif kind == "set_data":
        for key in keys:
            wf.set_data(key, 1)
    elif kind == "get_data":
        for key in keys:
            wf.get_data(key)
    elif kind == "deterministic":
        for _ in keys:
            wf.deterministic("step", _one)
    else:
        raise ValueError(kind)


@dataclass(slots=True)
class _Run:
    """What the task body of one measured workflow does and what it measured."""

    kind: str
    keys: list[str]
    child: Task[[], None]
    probe: Callable[[str], None] | None = None
    first: tuple[float, float] | None = None  # (ops loop, ops loop + boundary) seconds
    replay: tuple[float, float] | None = None


_CURRENT_RUN: _Run | None = None


def _body() -> None:
    """N operations, a checkpoint as the boundary (flushes the buffer), then a child to wait for."""
    run = _CURRENT_RUN
    if run is None:
        raise RuntimeError("no benchmark run is configured")
    wf = current()
    replaying = wf.is_replaying
    probe = None if replaying else run.probe
    if probe is not None:
        probe("start")
    t0 = perf_counter()
    _run_ops(wf, run.kind, run.keys)
    t1 = perf_counter()
    if probe is not None:
        probe("loop")
    t2 = perf_counter()
    wf.deterministic("boundary", int)  # a checkpoint: first run commits the buffered entries
    t3 = perf_counter()
    if probe is not None:
        probe("boundary")
    handle = wf.start_task(run.child)
    sample = (t1 - t0, (t1 - t0) + (t3 - t2))
    if replaying:
        run.replay = sample
    else:
        run.first = sample
    wf.wait(handle)  # first run: suspends here; replay: returns the child's result


def _child() -> None:
    return None


@dataclass(frozen=True, slots=True)
class Sample:
    """One measured workflow, in seconds for all N operations."""

    first_body: float
    first_amortised: float
    first_whole: float
    replay_body: float
    replay_whole: float


class Bench:
    """One store with the two tasks declared on a LocalRunner over it."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.runner = LocalRunner(store)
        self.task = self.runner.task(name="b1.body")(_body)
        self.child = self.runner.task(name="b1.child")(_child)

    def measure(
        self, kind: str, keys: list[str], probe: Callable[[str], None] | None = None
    ) -> Sample:
        """Run one workflow through first execution, its child, and the replay."""
        global _CURRENT_RUN
        run = _Run(kind, keys, self.child, probe)
        _CURRENT_RUN = run
        runner = self.runner
        try:
            workflow_id = runner.start(self.task)
            gc.collect()
            t0 = perf_counter()
            first = runner.step()
            t1 = perf_counter()
            child = runner.step()
            gc.collect()
            t2 = perf_counter()
            replay = runner.step()
            t3 = perf_counter()
        finally:
            _CURRENT_RUN = None
        statuses = [r.status if r is not None else None for r in (first, child, replay)]
        expected = [RunStatus.SUSPENDED, RunStatus.COMPLETED, RunStatus.COMPLETED]
        if statuses != expected or runner.step() is not None:
            errors = [r.error for r in (first, child, replay) if r is not None and r.error]
            raise RuntimeError(f"{kind}: runs ended {statuses}, expected {expected}: {errors}")
        if run.first is None or run.replay is None:
            raise RuntimeError(f"{kind}: the body did not run once first and once replaying")
        # Operations only (seq set): the history may also hold lifecycle events.
        events = runner.engine.history(workflow_id)
        recorded = sum(1 for e in events if e.seq is not None and e.invocation_id == workflow_id)
        if recorded != len(keys) + 2:
            raise RuntimeError(
                f"{kind}: {recorded} operations recorded, not {len(keys)} + the boundary + 1 child"
            )
        return Sample(run.first[0], run.first[1], t1 - t0, run.replay[0], t3 - t2)


# -- statistics ----------------------------------------------------------------------------


def _us(seconds: float, n: int) -> float:
    return round(seconds / n * 1e6, 3)


def summarise(samples: list[Sample], n: int) -> dict[str, Any]:
    """Medians (and the range of the headline numbers) in microseconds per operation."""

    def med(pick: Callable[[Sample], float]) -> float:
        return _us(statistics.median(pick(s) for s in samples), n)

    def span(pick: Callable[[Sample], float]) -> list[float]:
        values = [pick(s) for s in samples]
        return [_us(min(values), n), _us(max(values), n)]

    return {
        "first_us": med(lambda s: s.first_amortised),
        "first_us_range": span(lambda s: s.first_amortised),
        "first_body_us": med(lambda s: s.first_body),
        "first_whole_run_us": med(lambda s: s.first_whole),
        "replay_us": med(lambda s: s.replay_body),
        "replay_us_range": span(lambda s: s.replay_body),
        "replay_whole_run_us": med(lambda s: s.replay_whole),
    }


def per_call_us(fn: Callable[[], object], n: int, repeats: int) -> float:
    """Median over ``repeats`` of the mean time of one call, over ``n`` calls."""
    fn()  # warm up (connections, statement caches)
    return _us(statistics.median(_time_calls(fn, n) for _ in range(repeats)), 1)


def _time_calls(fn: Callable[[], object], n: int) -> float:
    """Seconds per call, averaged over ``n`` calls."""
    t0 = perf_counter()
    for _ in range(n):
        fn()
    return (perf_counter() - t0) / n


# -- raw store round trips -----------------------------------------------------------------
#
# Each store's raw probes are timed between the measured workflows (interleaved, not once
# before), so they see the same machine load as the operations next to them.

RawProbes = dict[str, Callable[[], object]]


@contextmanager
def raw_memory() -> Iterator[RawProbes]:
    """A dict set under a lock: what MemoryStore does at least once per operation."""
    lock = threading.Lock()
    table: dict[int, int] = {}
    keys = iter(range(1 << 62))

    def dict_set() -> None:
        with lock:
            table[next(keys) & 4095] = 1

    yield {"dict_set_under_lock": dict_set}


@contextmanager
def raw_sqlite(path: str) -> Iterator[RawProbes]:
    """``SELECT 1`` and a one-row write transaction on a separate connection to the file."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA synchronous = NORMAL")  # as SQLiteStore sets it (WAL is per file)
        conn.execute("CREATE TABLE IF NOT EXISTS b1_raw (k INTEGER PRIMARY KEY, v BLOB)")
        blob = b"x" * 40  # about the size of one encoded history entry

        def select_one() -> None:
            conn.execute("SELECT 1").fetchone()

        def insert_tx() -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO b1_raw (v) VALUES (?)", (blob,))
            conn.execute("COMMIT")

        yield {"select_1": select_one, "insert_one_row_tx": insert_tx}
    finally:
        conn.close()


@contextmanager
def raw_redis(client: redis.Redis) -> Iterator[RawProbes]:
    """``PING``, ``HGET`` of an existing field and ``EVALSHA`` of ``return 1`` via redis-py."""
    client.hset("b1:raw", "field", b"x" * 40)
    sha = client.script_load("return 1")

    def hget() -> None:
        client.hget("b1:raw", "field")

    def evalsha() -> None:
        client.evalsha(sha, 0)

    yield {"ping": client.ping, "hget": hget, "evalsha_return_1": evalsha}


# What an operation's first execution costs at least: the raw probe it is compared with.
RAW_REFERENCE = {
    "memory": {"set_data": "dict_set_under_lock", "get_data": "dict_set_under_lock"},
    "sqlite": {"set_data": "insert_one_row_tx", "get_data": "select_1"},
    "redis": {"set_data": "evalsha_return_1", "get_data": "hget"},
}
for _refs in RAW_REFERENCE.values():
    _refs["deterministic"] = _refs["set_data"]


# -- Redis command counting ----------------------------------------------------------------


@dataclass(slots=True)
class _Probe:
    """Snapshots of client counters and server stats at the body's probe points."""

    client: redis.Redis
    counter: Traffic
    marks: dict[str, tuple[int, int, int, dict[str, tuple[int, int]]]] = field(default_factory=dict)

    def server(self) -> tuple[int, dict[str, tuple[int, int]]]:
        self.counter.paused = True
        try:
            info = self.client.execute_command("INFO", "stats", "commandstats")  # type: ignore[no-untyped-call]
        finally:
            self.counter.paused = False
        calls = {
            name.removeprefix("cmdstat_"): (int(value["calls"]), int(value["usec"]))
            for name, value in info.items()
            if name.startswith("cmdstat_")
        }
        return int(info["total_commands_processed"]), calls

    def __call__(self, point: str) -> None:
        total, calls = self.server()
        self.marks[point] = (self.counter.round_trips, self.counter.replies, total, calls)


def count_commands(bench: Bench, client: redis.Redis, kind: str, keys: list[str]) -> dict[str, Any]:
    """Commands per operation on first execution, from the client's and the server's side."""
    counter = Traffic()
    probe = _Probe(client, counter)
    # What one INFO adds to total_commands_processed (itself), measured, to subtract.
    a, _ = probe.server()
    b, _ = probe.server()
    info_overhead = b - a
    with count_traffic(counter):
        bench.measure(kind, keys, probe)
    n = len(keys)

    def window(start: str, end: str) -> dict[str, Any]:
        rt0, rep0, tot0, calls0 = probe.marks[start]
        rt1, rep1, tot1, calls1 = probe.marks[end]
        per_command = {}
        for name in sorted(calls1):
            calls, usec = calls1[name]
            calls -= calls0.get(name, (0, 0))[0]
            usec -= calls0.get(name, (0, 0))[1]
            if name != "info" and calls:
                per_command[name] = {
                    "calls_per_op": round(calls / n, 3),
                    "usec_per_call": round(usec / calls, 2),
                }
        return {
            "round_trips": round((rt1 - rt0) / n, 3),
            "commands_sent": round((rep1 - rep0) / n, 3),
            "server_total_commands_processed": round((tot1 - tot0 - info_overhead) / n, 3),
            "server_commandstats": per_command,
        }

    ops = window("start", "loop")
    rt0, rep0, _, _ = probe.marks["loop"]
    rt1, rep1, _, _ = probe.marks["boundary"]
    return {
        **{k: v for k, v in ops.items() if k != "server_commandstats"},
        # The one checkpoint after the N ops (it flushes the buffered entries): totals.
        "boundary_total": {"round_trips": rt1 - rt0, "commands_sent": rep1 - rep0},
        "server_commandstats": ops["server_commandstats"],
    }


# -- driving ---------------------------------------------------------------------------------


def bench_store(
    name: str, store: StateStore, raw: RawProbes, n: int, repeats: int, warmup: int
) -> dict[str, Any]:
    """Every operation kind on one store (``warmup`` discarded rounds, then ``repeats``).

    Kinds are interleaved within each round, and the store's raw probes run ``n // 10``
    times each after every measured workflow, so slow drifts in machine load hit all of
    them alike instead of whichever kind happened to run during a busy stretch.
    """
    bench = Bench(store)
    raw_times: dict[str, list[float]] = {probe: [] for probe in raw}
    raw_n = max(20, n // 10)
    for fn in raw.values():
        fn()  # warm up
    keys = [f"k{i}" for i in range(n)]
    samples: dict[str, list[Sample]] = {kind: [] for kind in OPS}
    for round_ in range(warmup + repeats):
        for kind in OPS:
            sample = bench.measure(kind, keys)
            if round_ < warmup:
                continue
            samples[kind].append(sample)
            for probe, fn in raw.items():
                raw_times[probe].append(_time_calls(fn, raw_n))
    ops: dict[str, dict[str, Any]] = {}
    for kind in OPS:
        ops[kind] = r = summarise(samples[kind], n)
        log(
            f"{name:6} {kind:13} first {r['first_us']:9.2f} us/op "
            f"(body {r['first_body_us']:.2f}, whole run {r['first_whole_run_us']:.2f})  "
            f"replay {r['replay_us']:6.2f} us/op (whole run {r['replay_whole_run_us']:.2f})"
        )
    raw_us = {probe: _us(statistics.median(t), 1) for probe, t in raw_times.items()}
    raw_range = {probe: [_us(min(t), 1), _us(max(t), 1)] for probe, t in raw_times.items()}
    for kind, probe in RAW_REFERENCE[name].items():
        ops[kind]["first_over_raw_us"] = round(ops[kind]["first_us"] - raw_us[probe], 3)
        ops[kind]["raw_reference"] = probe
    log(f"{name:6} raw round trip (us): {raw_us}")
    return {"raw_round_trip_us": raw_us, "raw_round_trip_us_range": raw_range, "ops": ops}


def run_memory(n: int, repeats: int, warmup: int) -> dict[str, Any]:
    """The MemoryStore, next to a dict set under a lock."""
    store = open_store("memory://")
    try:
        with raw_memory() as raw:
            return bench_store("memory", store, raw, n, repeats, warmup)
    finally:
        store.close()


def run_sqlite(n: int, repeats: int, warmup: int) -> dict[str, Any]:
    """The SQLiteStore on a file in a temp dir, next to raw statements on that file."""
    with tempfile.TemporaryDirectory(prefix="wfcore-b1-") as tmp:
        path = str(Path(tmp) / "store.db")
        store = open_store(f"sqlite:///{path}")
        try:
            with raw_sqlite(path) as raw:
                result = bench_store("sqlite", store, raw, n, repeats, warmup)
        finally:
            store.close()
    return {"sqlite_version": sqlite3.sqlite_version, **result}


def run_redis(n: int, repeats: int, warmup: int) -> dict[str, Any]:
    """The RedisStore on a redis-server started here, raw commands, and command counts."""
    version = redis_server_version()
    with redis_server() as server:
        log(f"redis-server pid {server.pid} on port {server.port}")
        return _run_redis_on(server, version, n, repeats, warmup)


def _run_redis_on(
    server: BenchRedis, version: str, n: int, repeats: int, warmup: int
) -> dict[str, Any]:
    client = redis.Redis.from_url(server.url())
    store = open_store(server.url())
    try:
        with raw_redis(client) as raw:
            result = bench_store("redis", store, raw, n, repeats, warmup)
        bench = Bench(store)
        keys = [f"c{i}" for i in range(n)]
        commands = {kind: count_commands(bench, client, kind, keys) for kind in OPS}
    finally:
        store.close()
        client.close()
    for kind, c in commands.items():
        log(
            f"redis  {kind:13} {c['round_trips']:.3f} round trips/op, "
            f"{c['commands_sent']:.3f} commands sent/op, "
            f"{c['server_total_commands_processed']:.3f} server commands/op (incl. Lua's)"
        )
    return {
        "redis_server": version,
        "redis_py": redis.__version__,
        **result,
        "commands_per_op": commands,
    }


def targets(redis_result: dict[str, Any] | None) -> dict[str, Any]:
    """Pass/fail of the Redis targets (None when Redis was not measured)."""
    if redis_result is None:
        return {"skipped": "redis-server is not installed"}
    ops = redis_result["ops"]
    commands = redis_result["commands_per_op"]
    replay = {kind: ops[kind]["replay_us"] for kind in OPS}
    replay_whole = {kind: ops[kind]["replay_whole_run_us"] for kind in OPS}
    first = {kind: ops[kind]["first_us"] for kind in BUFFERED}
    trips = {
        kind: max(commands[kind]["round_trips"], commands[kind]["commands_sent"])
        for kind in ONE_ROUND_TRIP
    }
    return {
        "redis_replay_per_op_inside_body_le_5us": {
            "limit_us": REPLAY_TARGET_US,
            "values_us": replay,
            "pass": all(v <= REPLAY_TARGET_US for v in replay.values()),
        },
        "redis_replay_whole_run_per_op_le_5us": {
            "limit_us": REPLAY_TARGET_US,
            "values_us": replay_whole,
            "pass": all(v <= REPLAY_TARGET_US for v in replay_whole.values()),
            "note": "informational: includes load of the N-entry history and the final commit",
        },
        "redis_first_buffered_amortised_le_15us": {
            "limit_us": FIRST_BUFFERED_TARGET_US,
            "values_us": first,
            "pass": all(v <= FIRST_BUFFERED_TARGET_US for v in first.values()),
        },
        "redis_round_trips_per_op_le_1": {
            "limit": ROUND_TRIP_TARGET,
            "values": trips,
            "pass": all(v <= ROUND_TRIP_TARGET for v in trips.values()),
            "note": "max of client round trips/op and commands sent/op over the ops loop",
        },
    }


def _git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def main(argv: list[str] | None = None) -> int:
    """Run B1 and print its JSON result on stdout."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small N for a CI smoke run")
    parser.add_argument("--n", type=int, help="operations per workflow (default 2000, quick 200)")
    parser.add_argument("--repeats", type=int, help="measured workflows per op and store")
    parser.add_argument(
        "--stores", default="memory,sqlite,redis", help="comma-separated subset to run"
    )
    args = parser.parse_args(argv)
    n = args.n or (200 if args.quick else 2000)
    repeats = args.repeats or (3 if args.quick else 9)
    warmup = 1
    wanted = [s.strip() for s in args.stores.split(",") if s.strip()]
    runners: dict[str, Callable[[int, int, int], dict[str, Any]]] = {
        "memory": run_memory,
        "sqlite": run_sqlite,
        "redis": run_redis,
    }
    unknown = [name for name in wanted if name not in runners]
    if unknown or not wanted:
        parser.error(f"--stores takes a comma-separated subset of {sorted(runners)}")
    started = time.monotonic()
    load_at_start = round(os.getloadavg()[0], 2)
    log(f"N={n} ops per workflow, {repeats} repeats (+{warmup} warm-up), stores {wanted}")

    baseline = {"loop_and_empty_call_us": per_call_us(_one, n, repeats)}
    stores: dict[str, Any] = {}
    for name in wanted:
        try:
            stores[name] = runners[name](n, repeats, warmup)
        except FileNotFoundError as e:
            if name != "redis":
                raise
            log(f"redis skipped: {e}")
            stores[name] = {"skipped": str(e)}

    redis_result = stores.get("redis")
    if redis_result is not None and "skipped" in redis_result:
        redis_result = None
    result = {
        "benchmark": "B1",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "load_average_1m_at_start": load_at_start,
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        },
        "wfcore": {"version": version("wfcore"), "git": _git_revision()},
        "n": n,
        "repeats": repeats,
        "statistic": "median over repeats of (time / n), microseconds per operation",
        "baseline_us": baseline,
        "stores": stores,
        "targets": targets(redis_result) if "redis" in wanted else {},
        "reference": {"pynenc": PYNENC_QUOTED},
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
