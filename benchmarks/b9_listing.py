"""B9: the workflow list at 100k workflows (SQLite and Redis): first page, a deep page by
cursor, filtered pages; through the store, the web view's JSON API and HTML page, and the
CLI's ``wfcore list``. Prints one JSON object.

Seeding writes the workflows through the store's own code paths, quickly: SQLite rows are
inserted in batches of 5 000 with the store's INSERT statements in one transaction each
(``_sqlite_layout.INSERT_WF``/``INSERT_INV``); Redis workflows are created with
``RedisStore.create_workflow`` (its scripts keep every index, the status ones included) from
8 threads, each on its own connection. Workflows are spread over 10 types and 100 000
seconds of creation time, with statuses 70 % COMPLETED, 10 % FAILED, 2 % CANCELLED,
10 % SUSPENDED, 8 % PENDING.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.testclient import TestClient

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._redis import redis_server, redis_server_version
from wfcore._models import InvocationRecord, WorkflowRecord, WorkflowStatus
from wfcore.cli import main as cli
from wfcore.store import StateStore, open_store
from wfcore.store import _sqlite_layout as layout
from wfcore.store.listing import cursor_for, list_page
from wfcore.web import create_app

TARGET_MS = 200.0
T0 = 1_750_000_000.0
TYPES = [f"type-{i}" for i in range(10)]
_STATUS_MIX = (
    [WorkflowStatus.COMPLETED] * 35
    + [WorkflowStatus.FAILED] * 5
    + [WorkflowStatus.CANCELLED]
    + [WorkflowStatus.SUSPENDED] * 5
    + [WorkflowStatus.PENDING] * 4
)  # 50 slots: 70 %, 10 %, 2 %, 10 %, 8 %


def _records(i: int) -> tuple[WorkflowRecord, InvocationRecord]:
    wid = f"wf-{i:07d}"
    created = T0 + i  # one a second; a third of them share their second with the next one
    created -= 0.5 if i % 3 == 1 else 0.0
    status = _STATUS_MIX[(i * 7) % len(_STATUS_MIX)]
    record = WorkflowRecord(
        workflow_id=wid,
        workflow_type=TYPES[i % len(TYPES)],
        root_workflow_id=wid,
        root_invocation_id=f"{wid}-root",
        status=status,
        created_at=created,
        updated_at=created + 1,
        idempotency_key=f"order-{i}",
    )
    root = InvocationRecord(
        invocation_id=f"{wid}-root",
        workflow_id=wid,
        task_name=record.workflow_type,
        args=b"\x92\x91\x01\x80",
        status=status,
        created_at=created,
        updated_at=created + 1,
    )
    return record, root


def seed_sqlite(path: str, n: int) -> None:
    open_store(f"sqlite:///{path}").close()  # the schema
    conn = sqlite3.connect(path, isolation_level=None)
    for start in range(0, n, 5_000):
        pairs = [_records(i) for i in range(start, min(n, start + 5_000))]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(layout.INSERT_WF, [layout.wf_values(w) for w, _ in pairs])
        inv_rows = [layout.invocation_to_row(w.workflow_id, r) for w, r in pairs]
        conn.executemany(layout.INSERT_INV, inv_rows)
        conn.execute("COMMIT")
    conn.close()


def seed_redis(url: str, n: int) -> None:
    stores = [open_store(url) for _ in range(8)]

    def create(k: int) -> None:
        store = stores[k]
        for i in range(k, n, len(stores)):
            store.create_workflow(*_records(i))

    with ThreadPoolExecutor(len(stores)) as pool:
        list(pool.map(create, range(len(stores))))
    for store in stores:
        store.close()


def _timed(call: Callable[[], Any], repeats: int) -> dict[str, float]:
    call()  # warm: connections, caches, templates
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    return {
        "median_ms": round(statistics.median(times), 2),
        "max_ms": round(max(times), 2),
        "min_ms": round(min(times), 2),
    }


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def _queries(store: StateStore, n: int) -> dict[str, dict[str, Any]]:
    """name -> store filters (status, workflow_type, created_after/before) and cursor."""
    deep = store.list_workflows(limit=1, created_before=T0 + int(n * 0.9))[0]
    failed = WorkflowStatus.FAILED
    deep_failed = store.list_workflows(status=failed, created_before=T0 + int(n * 0.2), limit=1)[0]
    middle = {"created_after": T0 + n // 2, "created_before": T0 + n // 2 + 3_600}
    return {
        "first_page": {},
        "deep_page_cursor_at_10pct": {"cursor": cursor_for(deep)},
        "status_failed": {"status": failed},
        "status_cancelled_2pct": {"status": WorkflowStatus.CANCELLED},
        "status_failed_deep_cursor": {
            "status": failed,
            "cursor": cursor_for(deep_failed, status=failed),
        },
        "status_completed_and_type": {
            "status": WorkflowStatus.COMPLETED,
            "workflow_type": "type-3",
        },
        "time_range_one_hour": middle,
        "type_and_time_range": {"workflow_type": "type-7", **middle},
    }


def _params(filters: dict[str, Any], limit: int) -> dict[str, str]:
    names = {"workflow_type": "type", "created_after": "since", "created_before": "until"}
    out = {"limit": str(limit)}
    for key, value in filters.items():
        value = value.value if isinstance(value, WorkflowStatus) else value
        out[names.get(key, key)] = repr(value) if isinstance(value, float) else str(value)
    return out


def _cli_argv(url: str, params: dict[str, str]) -> list[str]:
    argv = ["--json", "--store", url, "list"]
    for key, value in params.items():
        argv += [f"--{key}", value]
    return argv


def _surfaces(
    store: StateStore,
    client: TestClient,
    url: str,
    query: dict[str, Any],
    limit: int,
    repeats: int,
) -> dict[str, Any]:
    """One query through the store, the JSON API, the HTML page and the CLI, checked equal."""
    filters = {k: v for k, v in query.items() if k != "cursor"}
    cursor = query.get("cursor")
    params = _params(filters, limit) | ({"cursor": cursor} if cursor else {})
    path = "?" + urlencode(params)
    argv = _cli_argv(url, params)
    page = list_page(store, **filters, cursor=cursor, limit=limit)
    assert page.workflows, query
    api = client.get("/api/workflows" + path)
    assert api.status_code == 200, api.text
    listed = [w["workflow_id"] for w in api.json()["workflows"]]
    assert listed == [w.workflow_id for w in page.workflows]
    assert client.get("/" + path).status_code == 200

    def run_store() -> None:
        list_page(store, **filters, cursor=cursor, limit=limit)

    def run_api() -> None:
        client.get("/api/workflows" + path)

    def run_html() -> None:
        client.get("/" + path)

    def run_cli() -> None:
        with _quiet():
            assert cli(argv) == 0

    return {
        "params": params,
        "store_list_page": _timed(run_store, repeats),
        "web_api": _timed(run_api, repeats),
        "web_html": _timed(run_html, repeats),
        "cli_list_in_process": _timed(run_cli, repeats),
    }


def measure(url: str, n: int, limit: int, repeats: int) -> dict[str, Any]:
    store = open_store(url)
    client = TestClient(create_app(store))
    results: dict[str, Any] = {
        name: _surfaces(store, client, url, query, limit, repeats)
        for name, query in _queries(store, n).items()
    }
    results["baselines"] = _baselines(store, url, n, limit, repeats)
    store.close()
    return results


def _baselines(store: StateStore, url: str, n: int, limit: int, repeats: int) -> dict[str, Any]:
    """What the same pages cost without keyset indexes, and the CLI as a new process next to
    a process that only imports it (the interpreter's start-up is most of it)."""
    out: dict[str, Any] = {}
    argv = [sys.executable, "-m", "wfcore.cli", *_cli_argv(url, {"limit": str(limit)})]
    imports = [sys.executable, "-c", "import wfcore.cli"]
    out["cli_subprocess_first_page"] = _timed(
        lambda: subprocess.run(argv, check=True, capture_output=True), 3
    )
    out["previous_view_scan_of_the_10k_newest"] = _timed(
        lambda: store.list_workflows(limit=10_000), min(repeats, 3)
    )
    client = TestClient(create_app(store))
    search = "/api/workflows?" + urlencode({"q": "order-4242", "limit": str(limit)})
    out["web_api_search_substring_scans_5k_per_page"] = _timed(
        lambda: client.get(search), min(repeats, 3)
    )
    out["python_importing_wfcore_cli_only"] = _timed(
        lambda: subprocess.run(imports, check=True, capture_output=True), 3
    )
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        offset = int(n * 0.9)
        sql = (
            f"{layout.SELECT_WF} ORDER BY created_at DESC, workflow_id DESC LIMIT {limit}"
            f" OFFSET {offset}"
        )
        out["sqlite_offset_page_at_10pct_instead_of_cursor"] = _timed(
            lambda: conn.execute(sql).fetchall(), repeats
        )
        conn.close()
    else:
        import redis

        raw = redis.Redis.from_url(url)
        marker = raw.get("wfcore:idx:status:ready")
        raw.delete("wfcore:idx:status:ready")  # as a database from before the status indexes
        try:
            old = open_store(url)
            rare = WorkflowStatus.CANCELLED
            out["redis_status_cancelled_page_without_status_indexes"] = _timed(
                lambda: list_page(old, status=rare, limit=limit), min(repeats, 3)
            )
            old.close()
        finally:
            if marker is not None:
                raw.set("wfcore:idx:status:ready", marker)
            raw.close()
    return out


def _verdict(results: dict[str, Any]) -> dict[str, Any]:
    worst = 0.0
    for name, entry in results.items():
        if isinstance(entry, dict) and name != "baselines":
            for surface in ("web_api", "web_html", "cli_list_in_process"):
                worst = max(worst, entry[surface]["median_ms"])
    return {"worst_median_ms": worst, "target_ms": TARGET_MS, "ok": worst <= TARGET_MS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000, help="workflows (default 100000)")
    parser.add_argument("--limit", type=int, default=50, help="page size (default 50)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--stores", default="sqlite,redis")
    parser.add_argument("--quick", action="store_true", help="n=2000, 3 repeats (smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.n, args.repeats = 2_000, 3
    report: dict[str, Any] = {
        "benchmark": "b9_listing",
        "n_workflows": args.n,
        "page_size": args.limit,
        "repeats": args.repeats,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "stores": {},
    }
    stores = args.stores.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        if "sqlite" in stores:
            path = str(Path(tmp) / "b9.sqlite3")
            t0 = time.perf_counter()
            seed_sqlite(path, args.n)
            seeded = time.perf_counter() - t0
            print(f"sqlite: seeded {args.n} in {seeded:.1f} s", file=sys.stderr)
            results = measure(f"sqlite:///{path}", args.n, args.limit, args.repeats)
            results["seed_s"] = round(seeded, 1)
            report["stores"]["sqlite"] = {"results": results, "verdict": _verdict(results)}
        if "redis" in stores:
            with redis_server() as server:
                url = f"redis://127.0.0.1:{server.port}/0"
                t0 = time.perf_counter()
                seed_redis(url, args.n)
                seeded = time.perf_counter() - t0
                print(f"redis: seeded {args.n} in {seeded:.1f} s", file=sys.stderr)
                results = measure(url, args.n, args.limit, args.repeats)
                results["seed_s"] = round(seeded, 1)
                report["stores"]["redis"] = {
                    "results": results,
                    "verdict": _verdict(results),
                    "server": redis_server_version(),
                }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
