"""B8: per-step overhead of ``wfcore.steps``, ``wfcore.flow`` and the PyWorkflow style
(``@app.workflow``/``@app.step``) vs ``wf.execute_task`` children."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._styles import Styles, declare, flow_payload
from benchmarks._workers import WorkerSettings, log, machine, running_rig

if TYPE_CHECKING:
    from collections.abc import Callable

TARGET_RATIO = 1.5  # a style's per-step time over the execute_task baseline's
STYLES = ("execute_task", "steps", "flow", "pyworkflow")
MODES = ("embedded", "redis")
_TIMEOUT = 300.0  # seconds one workflow may take before the run is declared stuck


@dataclass(frozen=True, slots=True)
class Run:
    """One finished workflow: seconds from its creation to the commit that completed it
    (both store timestamps), seconds the client waited (send to result), CPU seconds this
    process spent meanwhile (every thread: on the embedded App, its workers too), history
    events."""

    run_s: float
    client_s: float
    cpu_s: float
    events: int


def _run_chain(styles: Styles, n: int) -> str:
    handle = styles.chain.send_with_options(args=(n,))
    if handle.result(timeout=_TIMEOUT) != n * (n - 1) // 2:
        raise AssertionError(f"b8_chain({n}) returned a wrong sum")
    return handle.workflow_id


def _run_steps(styles: Styles, n: int) -> str:
    workflow = styles.steps_workflow(n)
    ctx = asyncio.run(workflow.run())
    if any(f"s{i}" not in ctx for i in range(n)) or workflow.workflow_id is None:
        raise AssertionError(f"steps run did not set every step's result: {sorted(ctx)}")
    return workflow.workflow_id


def _run_flow(styles: Styles, n: int) -> str:
    # What Workflow.run(start, payload) does on a durable executor (without a logger), keeping
    # the FlowRun to read its workflow id.
    executor: Any = styles.flow.executor
    run = executor.start(styles.flow, "hop", flow_payload(n), {}, logging=False)
    _, trace = run.result(timeout=_TIMEOUT)
    if [entry.result.value for entry in trace] != list(range(n)):
        raise AssertionError(f"flow run traced {len(trace)} hops, not {n}")
    return str(run.workflow_id)


def _run_pyworkflow(styles: Styles, n: int) -> str:
    run_id = styles.app.start(styles.pyworkflow, n)
    if styles.app.handle(run_id).result(timeout=_TIMEOUT) != n * (n - 1) // 2:
        raise AssertionError(f"b8_pyworkflow({n}) returned a wrong sum")
    return run_id


RUNNERS: dict[str, Callable[[Styles, int], str]] = {
    "execute_task": _run_chain,
    "steps": _run_steps,
    "flow": _run_flow,
    "pyworkflow": _run_pyworkflow,
}


def measure(styles: Styles, style: str, n: int) -> Run:
    """Run one ``n``-step workflow of ``style`` to its end."""
    t0, cpu0 = time.time(), time.process_time()
    workflow_id = RUNNERS[style](styles, n)
    client_s, cpu_s = time.time() - t0, time.process_time() - cpu0
    record = styles.app.store.get_workflow(workflow_id)
    if record is None:
        raise AssertionError(f"workflow {workflow_id!r} is not in the store")
    events = len(styles.app.engine.history(workflow_id))
    return Run(record.updated_at - record.created_at, client_s, cpu_s, events)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def bench_mode(styles: Styles, n: int, rounds: int, warmup: int) -> dict[str, Any]:
    """``warmup`` discarded rounds, then ``rounds``: each runs every style with n steps and
    with 1 step, in an order rotated per round (load drifts hit all styles alike)."""
    full: dict[str, list[Run]] = {s: [] for s in STYLES}
    single: dict[str, list[Run]] = {s: [] for s in STYLES}
    for round_ in range(warmup + rounds):
        shift = round_ % len(STYLES)
        order = STYLES[shift:] + STYLES[:shift]
        for style in order:
            big, small = measure(styles, style, n), measure(styles, style, 1)
            if round_ >= warmup:
                full[style].append(big)
                single[style].append(small)
        done = "warm-up" if round_ < warmup else f"round {round_ - warmup + 1}/{rounds}"
        latest = {s: _ms(full[s][-1].run_s / n) if full[s] else None for s in STYLES}
        log(f"{done}: per-step ms {latest}")
    out: dict[str, Any] = {}
    for style in STYLES:
        per_step = [r.run_s / n for r in full[style]]
        marginal = (
            [
                (big.run_s - small.run_s) / (n - 1)
                for big, small in zip(full[style], single[style], strict=True)
            ]
            if n > 1
            else []
        )
        out[style] = {
            "per_step_ms": _ms(statistics.median(per_step)),
            "per_step_ms_range": [_ms(min(per_step)), _ms(max(per_step))],
            "per_step_ms_rounds": [_ms(v) for v in per_step],
            "client_per_step_ms": _ms(statistics.median(r.client_s / n for r in full[style])),
            "cpu_per_step_ms": _ms(statistics.median(r.cpu_s / n for r in full[style])),
            "one_step_run_ms": _ms(statistics.median(r.run_s for r in single[style])),
            "marginal_per_step_ms": _ms(statistics.median(marginal)) if marginal else None,
            "history_events": full[style][-1].events,
            "history_events_one_step": single[style][-1].events,
        }
    out["ratios"] = {
        style: _ratios(full, single, style, n) for style in STYLES if style != "execute_task"
    }
    return out


def _ratios(
    full: dict[str, list[Run]], single: dict[str, list[Run]], style: str, n: int
) -> dict[str, Any]:
    """The style over the baseline: per round (paired: the same round, minutes apart at most)
    and of the medians; the headline is the median of the paired ratios."""
    paired = [s.run_s / b.run_s for s, b in zip(full[style], full["execute_task"], strict=True)]
    of_medians = statistics.median(r.run_s for r in full[style]) / statistics.median(
        r.run_s for r in full["execute_task"]
    )
    cpu = statistics.median(r.cpu_s for r in full[style]) / statistics.median(
        r.cpu_s for r in full["execute_task"]
    )
    result: dict[str, Any] = {
        "per_step_ratio": round(statistics.median(paired), 3),
        # Embedded: the whole App's CPU (less sensitive to a loaded machine than time);
        # Redis: only the client's, not a measure of the style.
        "cpu_ratio_of_medians": round(cpu, 3),
        "per_step_ratio_rounds": [round(v, 3) for v in paired],
        "ratio_of_medians": round(of_medians, 3),
        "target": TARGET_RATIO,
        "target_met": statistics.median(paired) <= TARGET_RATIO,
    }
    if n > 1:

        def marginal(runs: str) -> float:
            return statistics.median(
                (big.run_s - small.run_s) / (n - 1)
                for big, small in zip(full[runs], single[runs], strict=True)
            )

        result["marginal_ratio"] = round(marginal(style) / marginal("execute_task"), 3)
    return result


def run_embedded(n: int, rounds: int, warmup: int) -> dict[str, Any]:
    """The embedded App: StubBroker, in-process worker threads, SQLite in a temp dir."""
    from wfcore_dramatiq import App

    with tempfile.TemporaryDirectory(prefix="wfcore-b8-") as tmp:
        app = App(store=f"sqlite:///{tmp}/b8.sqlite3")
        try:
            result = bench_mode(declare(app), n, rounds, warmup)
        finally:
            app.close()
    return {"setup": "App(): StubBroker, 8 in-process worker threads, SQLite file", **result}


def run_redis(n: int, rounds: int, warmup: int, settings: WorkerSettings) -> dict[str, Any]:
    """Real `dramatiq` worker processes over a throwaway Redis (broker and store)."""
    with running_rig(settings) as rig:
        result = bench_mode(rig.bench.b8, n, rounds, warmup)
    return {
        "setup": "RedisBroker + RedisStore, `dramatiq benchmarks._bench_app:broker`",
        "workers": settings.as_json(),
        **result,
    }


def main(argv: list[str] | None = None) -> int:
    """Run B8 and print its JSON result on stdout."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small, fast run (embedded only)")
    parser.add_argument("--n", type=int, default=None, help="steps per workflow (default 20)")
    parser.add_argument("--rounds", type=int, default=None, help="measured rounds (default 7)")
    parser.add_argument("--modes", default=None, help="comma-separated subset of " + str(MODES))
    parser.add_argument("--processes", type=int, default=2, help="dramatiq --processes")
    parser.add_argument("--threads", type=int, default=4, help="dramatiq --threads")
    args = parser.parse_args(argv)
    n = args.n or (5 if args.quick else 20)
    rounds = args.rounds or (2 if args.quick else 7)
    warmup = 1
    modes = (args.modes or ("embedded" if args.quick else ",".join(MODES))).split(",")
    if not set(modes) <= set(MODES) or n < 1 or rounds < 1:
        parser.error(f"--modes takes a subset of {MODES}; --n and --rounds must be >= 1")
    settings = WorkerSettings(processes=args.processes, threads=args.threads, worker_timeout_ms=100)
    started = time.monotonic()
    at_start = machine()
    log(f"N={n} steps, {rounds} rounds (+{warmup} warm-up), modes {modes}")
    results: dict[str, Any] = {}
    for mode in modes:
        log(f"mode {mode}")
        if mode == "embedded":
            results[mode] = run_embedded(n, rounds, warmup)
        else:
            results[mode] = run_redis(n, rounds, warmup, settings)
    report = {
        "benchmark": "B8",
        "machine": at_start,
        "load_avg_1_5_15_at_end": machine()["load_avg_1_5_15"],
        "n_steps": n,
        "rounds": rounds,
        "warmup_rounds": warmup,
        "statistic": "per_step_ms: median over rounds of (store created_at -> completed "
        "updated_at) / n; per_step_ratio: median over rounds of style / execute_task, "
        "same round",
        "target_ratio": TARGET_RATIO,
        "modes": results,
        "target_met": all(r["target_met"] for m in results.values() for r in m["ratios"].values()),
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
