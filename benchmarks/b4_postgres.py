"""B4: a 3-step ``wf.deterministic`` workflow on the PostgreSQL store next to DBOS on the same
PostgreSQL, in the same run.

DBOS is never a project dependency: its side runs in the benchmark's own virtualenv
(``.venv-b4``; create it with ``python3 -m venv .venv-b4 && .venv-b4/bin/pip install dbos``)
as a subprocess (``_b4_dbos.py``). Each run creates a throwaway database on the server, runs
``--workflows`` workflows on wfcore (``LocalRunner`` over ``PostgresStore``), then the same
number on DBOS, and drops the database. Both sides run under each ``--commit`` mode: ``sync``
(the server's default, an fsync per commit) and ``async`` (``synchronous_commit=off`` for
both sides' sessions: a server crash may lose the last commits, never corrupt them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `wfcore` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from psycopg import sql

from benchmarks._workers import log
from wfcore import LocalRunner, current
from wfcore.store.postgres import PostgresStore

ROOT = Path(__file__).resolve().parent.parent
SERVER = os.environ.get("WFCORE_B4_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/")
DBOS_PYTHON = ROOT / ".venv-b4" / "bin" / "python"
STEPS = 3
TARGET_RATIO = 10.0  # DBOS's time per step over wfcore's
ASYNC = "options=-c%20synchronous_commit%3Doff"


def _url(database: str, query: str = "") -> str:
    base = SERVER.split("?", 1)[0].rstrip("/")
    host = base.split("://", 1)[1].split("/", 1)[0]
    return f"postgresql://{host}/{database}" + (f"?{query}" if query else "")


def _admin(statement: sql.Composed) -> None:
    with psycopg.connect(_url("postgres"), autocommit=True) as conn:
        conn.execute(statement)


def _s1(x: int) -> int:
    return x + 1


def _s2(x: int) -> int:
    return x * 2


def _s3(x: int) -> int:
    return x - 3


def run_wfcore(url: str, workflows: int, warmup: int) -> list[float]:
    """Seconds per workflow (start to its value) on a fresh PostgresStore."""
    store = PostgresStore(url)
    try:
        runner = LocalRunner(store)

        @runner.task(name="b4.three_steps")
        def three_steps(x: int) -> int:
            wf = current()
            a = wf.deterministic("s1", _s1, x)
            b = wf.deterministic("s2", _s2, a)
            return wf.deterministic("s3", _s3, b)

        seconds = []
        for i in range(warmup + workflows):
            # Start, then run its one message: the run returns the value, as calling a DBOS
            # workflow does (LocalRunner.run would read it back from the store).
            t0 = time.perf_counter()
            runner.start(three_steps, i)
            ran = runner.step()
            elapsed = time.perf_counter() - t0
            if ran is None or ran.value != (i + 1) * 2 - 3 or runner.step() is not None:
                raise AssertionError(f"three_steps({i}) ended {ran}")
            if i >= warmup:
                seconds.append(elapsed)
        return seconds
    finally:
        store.close()


def run_dbos(url: str, workflows: int, warmup: int) -> list[float]:
    """Seconds per workflow of the same workflow on DBOS, in .venv-b4."""
    out = subprocess.run(
        [str(DBOS_PYTHON), str(ROOT / "benchmarks" / "_b4_dbos.py"), url, str(workflows),
         str(warmup)],
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    seconds: list[float] = json.loads(out.stdout)["seconds"]
    return seconds


def _summary(seconds: list[float]) -> dict[str, float]:
    median = statistics.median(seconds)
    return {
        "workflow_ms_median": round(median * 1e3, 3),
        "workflow_ms_min": round(min(seconds) * 1e3, 3),
        "step_ms_median": round(median / STEPS * 1e3, 3),
    }


def one_run(workflows: int, warmup: int, modes: list[str], dbos: bool) -> dict[str, Any]:
    """Both sides in each mode on a throwaway database."""
    database = f"wfcore_b4_{uuid.uuid4().hex[:12]}"
    _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    try:
        result: dict[str, Any] = {}
        for mode in modes:
            query = ASYNC if mode == "async" else ""
            log(f"{mode}: wfcore, {workflows} workflows")
            wfcore_side = _summary(
                run_wfcore(
                    _url(database, f"schema=wf_{mode}" + (f"&{query}" if query else "")),
                    workflows,
                    warmup,
                )
            )
            entry: dict[str, Any] = {"wfcore": wfcore_side}
            if dbos:
                log(f"{mode}: DBOS, {workflows} workflows")
                dbos_side = _summary(run_dbos(_url(database, query), workflows, warmup))
                entry["dbos"] = dbos_side
                entry["ratio_dbos_over_wfcore"] = round(
                    dbos_side["step_ms_median"] / wfcore_side["step_ms_median"], 2
                )
            result[mode] = entry
        return result
    finally:
        _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


def _spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--modes", default="sync,async")
    parser.add_argument("--quick", action="store_true", help="10 workflows, 1 run, no DBOS")
    args = parser.parse_args()
    if args.quick:
        args.workflows, args.warmup, args.runs = 10, 2, 1
    modes = args.modes.split(",")
    dbos = not args.quick and DBOS_PYTHON.exists()
    runs = [one_run(args.workflows, args.warmup, modes, dbos) for _ in range(args.runs)]
    report: dict[str, Any] = {
        "benchmark": "B4",
        "workflow": f"{STEPS} wf.deterministic steps: LocalRunner.start, then its one run",
        "workflows_per_run": args.workflows,
        "runs": runs,
    }
    if not dbos:
        report["dbos"] = (
            "skipped: --quick" if args.quick else f"skipped: no {DBOS_PYTHON} (see the docstring)"
        )
    else:
        summary = {}
        for mode in modes:
            ratios = [run[mode]["ratio_dbos_over_wfcore"] for run in runs]
            summary[mode] = {
                "wfcore_step_ms": _spread([run[mode]["wfcore"]["step_ms_median"] for run in runs]),
                "dbos_step_ms": _spread([run[mode]["dbos"]["step_ms_median"] for run in runs]),
                "ratio_dbos_over_wfcore": _spread(ratios),
                "target_met": min(ratios) >= TARGET_RATIO,
            }
        report["summary"] = summary
        report["target_ratio"] = TARGET_RATIO
    with psycopg.connect(_url("postgres")) as conn:
        server = conn.execute("SHOW server_version").fetchone()
    report["machine"] = {
        "cpus": os.cpu_count(),
        "load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "postgres": server[0] if server else "?",
        "psycopg": psycopg.__version__,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
