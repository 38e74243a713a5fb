"""B2 CPU: worker CPU per workflow of the B2 body as an async body vs as a sync body, in one
process (``LocalRunner``: the engine, the store and the loop, no broker); prints JSON.

Throughput through Dramatiq workers (``b2_throughput.py --async``) depends on the whole
machine; on a shared one its rounds vary by a factor of 2 and more. The CPU time this process spends
per workflow is a much steadier figure of what an async body adds. Rounds alternate the
order of the two bodies; each round uses a fresh runner (and, with ``--store redis``, a
fresh namespace on a throwaway ``redis-server``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._b2_ops import b2_async, b2_sync
from benchmarks._workers import machine
from wfcore import LocalRunner
from wfcore.store import open_store

ASYNC_TARGET_RATIO = 0.9  # what B2's throughput target asks of the async body


def _runner(store_url: str | None) -> tuple[LocalRunner, dict[str, Any]]:
    runner = LocalRunner(None if store_url is None else open_store(store_url))

    @runner.task(name="b2cpu.step")
    def step(x: int) -> int:
        return x + 1

    @runner.task(name="b2cpu.sync")
    def sync_body(n: int) -> dict[str, Any]:
        return b2_sync(sync_body.wf, step, n)

    @runner.task(name="b2cpu.async", workflow=True)
    async def async_body(n: int) -> dict[str, Any]:
        return await b2_async(async_body.wf, step, n)

    return runner, {"sync": sync_body, "async": async_body}


def _batch(runner: LocalRunner, task: Any, n: int) -> None:
    for i in range(n):
        runner.start(task, i)
    runner.run_until_idle()


def measure(variant: str, n: int, store_url: Callable[[], str | None]) -> dict[str, float]:
    """CPU µs per workflow of ``n`` B2 workflows of ``variant`` (after 20 to warm up), and
    the garbage collector's share of it."""
    runner, bodies = _runner(store_url())
    _batch(runner, bodies[variant], 20)
    gc.collect()
    in_gc = [0.0, 0.0]

    def timed(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            in_gc[1] = time.process_time()
        else:
            in_gc[0] += time.process_time() - in_gc[1]

    gc.callbacks.append(timed)
    try:
        start = time.process_time()
        _batch(runner, bodies[variant], n)
        cpu = time.process_time() - start
    finally:
        gc.callbacks.remove(timed)
    return {"cpu_us": round(cpu / n * 1e6, 1), "gc_us": round(in_gc[0] / n * 1e6, 1)}


@contextmanager
def _store(kind: str) -> Iterator[Callable[[], str | None]]:
    if kind == "memory":
        yield lambda: None
        return
    from benchmarks._redis import redis_server

    with redis_server() as server:
        yield lambda: f"{server.url()}?prefix=b2cpu-{uuid.uuid4().hex[:8]}"


def run(n: int, rounds: int, kind: str) -> dict[str, Any]:
    sides: dict[str, list[dict[str, float]]] = {"sync": [], "async": []}
    with _store(kind) as store_url:
        for r in range(rounds):
            for variant in ("sync", "async") if r % 2 == 0 else ("async", "sync"):
                sides[variant].append(measure(variant, n, store_url))
    sync = round(statistics.median(s["cpu_us"] for s in sides["sync"]), 1)
    async_ = round(statistics.median(s["cpu_us"] for s in sides["async"]), 1)
    return {
        "store": kind,
        "sync_cpu_us_per_workflow": sync,
        "async_cpu_us_per_workflow": async_,
        "async_extra_cpu_us_per_workflow": round(async_ - sync, 1),
        "ratio_async_to_sync_cpu": round(async_ / sync, 3),
        "ratio_async_to_sync_cpu_per_round": [
            round(a["cpu_us"] / s["cpu_us"], 3)
            for s, a in zip(sides["sync"], sides["async"], strict=True)
        ],
        "gc_us_per_workflow": {
            v: round(statistics.median(s["gc_us"] for s in sides[v]), 1) for v in ("sync", "async")
        },
        "rounds": sides,
    }


def main() -> None:
    """Run B2 CPU and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small, fast run")
    parser.add_argument("--workflows", type=int, default=None, help="workflows per round")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (each: both bodies)")
    parser.add_argument(
        "--store", choices=["memory", "redis", "both"], default="both", help="the store"
    )
    args = parser.parse_args()
    n = args.workflows or (20 if args.quick else 400)
    rounds = args.rounds or (2 if args.quick else 6)
    load_before = os.getloadavg()[0]
    kinds = ["memory", "redis"] if args.store == "both" else [args.store]
    report: dict[str, Any] = {
        "benchmark": "B2 CPU",
        "workflows_per_round": n,
        "rounds": rounds,
        "machine": {**machine(), "load_1min_before": round(load_before, 2)},
        "async_target_ratio": ASYNC_TARGET_RATIO,
    }
    for kind in kinds:
        report[kind] = run(n, rounds, kind)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
