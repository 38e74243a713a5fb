"""B10: ``RedisStore`` on Redis Cluster against a standalone server, on the same machine.

Each side runs the store's calls of one small workflow (create, a claiming load, two commits
of entries, a finishing commit), from 4 threads, for N workflows per round; then a listing
page (50, newest first) and a status count over those workflows. Sides: a standalone
redis-server (the baseline), a six-node cluster (3 primaries with a replica each, started
here on free ports) with each write waiting for its replica (``replicas=1``, the default),
and the same cluster without that wait (``replicas=0``). Every figure is min / median / max
over the rounds. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._redis import redis_server, redis_server_version
from tests.support.redis_cluster import start_cluster, stop_cluster
from wfcore._models import Batch, Finish, InvocationRecord, WorkflowRecord, WorkflowStatus
from wfcore.store import StateStore, open_store

THREADS = 4


def _records(wid: str) -> tuple[WorkflowRecord, InvocationRecord]:
    now = time.time()
    root = f"{wid}-root"
    record = WorkflowRecord(
        workflow_id=wid,
        workflow_type="bench",
        parent_workflow_id=None,
        root_workflow_id=wid,
        root_invocation_id=root,
        created_at=now,
        updated_at=now,
    )
    invocation = InvocationRecord(
        invocation_id=root,
        workflow_id=wid,
        task_name="bench",
        args=b"",
        created_at=now,
        updated_at=now,
    )
    return record, invocation


def _one(store: StateStore, wid: str) -> None:
    record, root = _records(wid)
    store.create_workflow(record, root)
    store.load(wid, root.invocation_id)
    store.commit(wid, root.invocation_id, Batch(0, [b"a" * 40]))
    store.commit(wid, root.invocation_id, Batch(1, [b"b" * 40]))
    finish = Finish(WorkflowStatus.COMPLETED, b"done")
    store.commit(wid, root.invocation_id, Batch(2, [b"c" * 40], finish=finish))


def _round(url: str, n: int) -> dict[str, float]:
    store = open_store(url)
    try:
        run = uuid.uuid4().hex[:8]
        ids = [f"wf-{run}-{i}" for i in range(n)]
        started = time.perf_counter()
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(lambda wid: _one(store, wid), ids))
        wall = time.perf_counter() - started
        started = time.perf_counter()
        page = store.list_workflows(limit=50)
        listing_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        counted = store.count_workflows(WorkflowStatus.COMPLETED)
        count_ms = (time.perf_counter() - started) * 1000
        assert len(page) == min(50, n)
        assert counted >= n
        return {
            "workflows_per_s": n / wall,
            "ms_per_workflow_per_thread": wall * 1000 * THREADS / n,
            "list_page_ms": listing_ms,
            "count_ms": count_ms,
        }
    finally:
        store.close()


def _spread(rounds: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    return {
        key: {
            "min": round(min(r[key] for r in rounds), 3),
            "median": round(statistics.median(r[key] for r in rounds), 3),
            "max": round(max(r[key] for r in rounds), 3),
        }
        for key in rounds[0]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workflows", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20 workflows, 1 round")
    options = parser.parse_args()
    n, rounds = (20, 1) if options.quick else (options.workflows, options.rounds)
    cluster = start_cluster()
    try:
        with redis_server() as server:
            sides = {
                "standalone": f"{server.url(0)}?prefix=b10-{uuid.uuid4().hex[:8]}",
                "cluster_replicas_1": cluster.url(prefix=f"b10-{uuid.uuid4().hex[:8]}"),
                "cluster_replicas_0": cluster.url(
                    prefix=f"b10-{uuid.uuid4().hex[:8]}", replicas="0"
                ),
            }
            measured: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
            for _ in range(rounds):  # sides interleaved, so drift hits each alike
                for side, url in sides.items():
                    measured[side].append(_round(url, n))
    finally:
        stop_cluster(cluster)
    result: dict[str, Any] = {side: _spread(r) for side, r in measured.items()}
    base = result["standalone"]["workflows_per_s"]["median"]
    report = {
        "benchmark": "b10_cluster",
        "workflows": n,
        "rounds": rounds,
        "threads": THREADS,
        "redis": redis_server_version(),
        "python": platform.python_version(),
        "result": result,
        "ratio_to_standalone_workflows_per_s": {
            side: round(result[side]["workflows_per_s"]["median"] / base, 3) for side in sides
        },
    }
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
