"""The embedded SQLite store under more worker threads (issue 16, section 2): a 10-child
fan-out on ``App(store="sqlite:///...", worker_threads=T)`` for T = 1, 2, 4, 8; prints one
JSON object. More threads must never make it slower than one.

One App per thread count, all open at once; the fan-outs of the counts take turns one by
one. ``--baseline DIR`` measures the wfcore checkout in DIR too (a subprocess, the same
way), in the same run.
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
from pathlib import Path
from typing import Any

SRC = os.environ.get("WFCORE_BENCH_SRC")
if SRC:
    sys.path.insert(0, SRC)
elif __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

THREADS = (1, 2, 4, 8)


def _fan_app(tmp: str, threads: int) -> tuple[Any, Any]:
    """An embedded App with ``threads`` worker threads on its own SQLite file, and its
    fan-out task (warmed up once)."""
    from wfcore_dramatiq import App

    app = App(store=f"sqlite:///{tmp}/fan-{threads}.db", worker_threads=threads)

    @app.task
    def leaf(i: int) -> int:
        return i

    @app.task
    def fan(n: int) -> int:
        wf = fan.wf
        handles = [wf.start_task(leaf, i) for i in range(n)]
        return sum(r.result for r in wf.wait(*handles))

    fan.send_with_options(args=(2,)).result(timeout=60)
    return app, fan


def measure(rounds: int, width: int) -> dict[str, Any]:
    """Seconds per fan-out of ``width`` children for each thread count: one App per count,
    all open at once, one fan-out of each count in turn (the order rotating), so that the
    load's drifts and the process's own speed hit every count alike."""
    samples: dict[int, list[float]] = {t: [] for t in THREADS}
    with tempfile.TemporaryDirectory(prefix="wfcore-threads-") as tmp:
        apps = {t: _fan_app(tmp, t) for t in THREADS}
        try:
            for n in range(rounds):
                for threads in THREADS[n % 4 :] + THREADS[: n % 4]:
                    fan = apps[threads][1]
                    t0 = time.perf_counter()
                    if (
                        fan.send_with_options(args=(width,)).result(timeout=60)
                        != width * (width - 1) // 2
                    ):
                        raise AssertionError("wrong fan-out sum")
                    samples[threads].append(time.perf_counter() - t0)
        finally:
            for app, _ in apps.values():
                app.close()
    out: dict[str, Any] = {}
    for threads, times in samples.items():
        ms = [t * 1e3 for t in times]
        out[str(threads)] = {
            "min_ms": round(min(ms), 2),
            "median_ms": round(statistics.median(ms), 2),
            "max_ms": round(max(ms), 2),
        }
    one = out["1"]["median_ms"]
    out["median_over_one_thread"] = {
        str(t): round(out[str(t)]["median_ms"] / one, 3) for t in THREADS
    }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=150, help="fan-outs per thread count")
    parser.add_argument("--width", type=int, default=10)
    parser.add_argument("--baseline", default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds = 5
    report: dict[str, Any] = {
        "benchmark": "sqlite_threads",
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "width": args.width,
        "rounds": args.rounds,
    }
    if args.baseline:
        cmd = [sys.executable, __file__, "--rounds", str(args.rounds)]
        cmd += ["--width", str(args.width)]
        env = {**os.environ, "WFCORE_BENCH_SRC": args.baseline, "PYTHONPATH": args.baseline}
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        report["baseline"] = json.loads(out.stdout)["result"]
    report["result"] = measure(args.rounds, args.width)
    ratios = report["result"]["median_over_one_thread"]
    report["target_met"] = all(r <= 1.0 for r in ratios.values())
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
