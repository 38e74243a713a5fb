"""B3: fan-out 1 -> n children (wf.start_task) joined by one wf.wait, vs raw Dramatiq."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._workers import (
    CpuMeter,
    Rig,
    Start,
    add_worker_arguments,
    log,
    machine,
    profile_summary,
    running_rig,
    settings_from,
    start_phase,
    wait_until,
)


def _float(value: Any) -> float:
    return float(value) if value is not None else float("nan")


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def raw_fanout(rig: Rig, n: int, work_ms: float) -> dict[str, Any]:
    """One actor sends n child messages; a Redis counter's last INCR sends the join."""
    bench, client = rig.bench, rig.client
    run = uuid.uuid4().hex[:8]
    start = start_phase(rig)
    bench.raw_fan_parent.send(run, n, work_ms)
    finished_key = bench.key(run, "finished")
    wait_until(f"the raw join of {n}", lambda: bool(client.exists(finished_key)), 120)
    finished = _float(client.get(finished_key))
    result = _summary(rig, n, start, finished)
    # Read after the counters settled: a duplicate join would have shown up by now.
    joins = _int(client.get(bench.key(run, "joins")))
    result.update(
        fanout_sent_s=round(_float(client.get(bench.key(run, "sent_all"))) - start.at, 3),
        children_done_s=round(_float(client.get(bench.key(run, "children_done"))) - start.at, 3),
        children_counted=_int(client.get(bench.key(run, "children"))),
        join_runs=joins,
        exactly_once=joins == 1,
    )
    return result


# --async: the same fan-out from async workflow bodies (see benchmarks/_bench_async.py).
VARIANTS = {
    "sync": "b3_parent: wf.start_task x n, then wf.wait(*handles)",
    "async": "b3_parent_async: the same in an async body, `await wf.wait(*handles)`",
    "gather": "b3_gather: an async body, `await asyncio.gather(*[wf.execute_task(...) x n])`",
}
ASYNC_TARGET_RATIO = 0.9  # async children/s over sync
GATHER_MAX_RESUMES = 20  # gather: parent resumes
GATHER_MAX_WALL_RATIO = 1.5  # gather wall time over the sync wf.wait's


def _parent(bench: Any, variant: str) -> Any:
    if variant == "sync":
        return bench.b3_parent
    return bench.async_variants.b3_parent if variant == "async" else bench.async_variants.b3_gather


def wfcore_fanout(rig: Rig, n: int, work_ms: float, variant: str = "sync") -> dict[str, Any]:
    """One workflow starts n children and joins them (``VARIANTS[variant]``)."""
    bench, client = rig.bench, rig.client
    run = uuid.uuid4().hex[:8]
    start = start_phase(rig)
    handle = _parent(bench, variant).send_with_options(args=(run, n, work_ms))
    value = handle.result(timeout=120)
    if value != n * (n - 1) // 2:
        raise AssertionError(f"workflow {handle.workflow_id} returned {value!r}")
    wid = handle.workflow_id
    finished = bench.store.get_workflow(wid).updated_at  # the commit that completed the root
    result = _summary(rig, n, start, finished)
    root = bench.store.get_invocation(wid, wid)
    children = [i for i in bench.store.list_invocations(wid) if i.invocation_id != wid]
    runs = [float(t) for t in client.lrange(bench.key("parent_runs", wid), 0, -1)]
    resumed = _int(client.get(bench.key(run, "resumed")))
    result.update(
        fanout_sent_s=round(runs[0] - start.at, 3),
        children_done_s=round(max(c.updated_at for c in children) - start.at, 3),
        children_counted=sum(1 for c in children if c.status.value == "COMPLETED"),
        join_runs=resumed,
        exactly_once=resumed == 1,
        parent_body_runs=_int(client.get(bench.key(run, "body_runs"))),
        parent_resumes=_int(client.get(bench.key(run, "body_runs"))) - 1,
        parent_attempts=root.attempts,
        parent_messages=len(runs),
    )
    return result


def _summary(rig: Rig, n: int, start: Start, finished: float) -> dict[str, Any]:
    wall = finished - start.at
    cpu = CpuMeter.since(start.cpu, rig.meter.snapshot())
    counted = rig.workers.settled_messages() - start.messages
    return {
        "wall_s": round(wall, 3),
        "children_per_s": round(n / wall, 1),
        "messages_counted": counted,
        "cpu_ms_per_child": {k: round(v * 1000 / n, 3) for k, v in cpu.items()},
    }


def _side(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    median = sorted(rounds, key=lambda r: r["wall_s"])[len(rounds) // 2]
    return {
        "wall_s": median["wall_s"],
        "children_per_s": median["children_per_s"],
        "exactly_once_every_round": all(r["exactly_once"] for r in rounds),
        "rounds": rounds,
    }


def _async_sides(sides: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The async bodies' figures next to the sync body's of the same run (``--async``)."""
    sync, async_, gather = sides["sync"], sides["async"], sides["gather"]
    ratio = async_["children_per_s"] / sync["children_per_s"]
    wall_ratio = gather["wall_s"] / sync["wall_s"]
    resumes = max(r["parent_resumes"] for r in gather["rounds"])
    return {
        "variants": VARIANTS,
        "wfcore_async": async_,
        "wfcore_gather": gather,
        "ratio_async_to_sync_children_per_s": round(ratio, 3),
        "ratio_async_to_sync_per_round": [
            round(a["children_per_s"] / s["children_per_s"], 3)
            for a, s in zip(async_["rounds"], sync["rounds"], strict=True)
        ],
        "async_target_ratio": ASYNC_TARGET_RATIO,
        "async_target_met": ratio >= ASYNC_TARGET_RATIO,
        "gather_parent_resumes_max": resumes,
        "gather_parent_resumes_per_round": [r["parent_resumes"] for r in gather["rounds"]],
        "ratio_gather_to_sync_wall": round(wall_ratio, 3),
        "ratio_gather_to_sync_wall_per_round": [
            round(g["wall_s"] / s["wall_s"], 3)
            for g, s in zip(gather["rounds"], sync["rounds"], strict=True)
        ],
        "gather_targets": {
            "max_resumes": GATHER_MAX_RESUMES,
            "max_wall_ratio": GATHER_MAX_WALL_RATIO,
        },
        "gather_targets_met": resumes <= GATHER_MAX_RESUMES and wall_ratio <= GATHER_MAX_WALL_RATIO,
    }


def main() -> None:
    """Run B3 and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__)
    add_worker_arguments(parser, threads=8)
    parser.add_argument("--children", type=int, default=None, help="children per fan-out")
    parser.add_argument(
        "--child-ms", type=float, default=0.0, help="each child sleeps this long (both sides)"
    )
    parser.add_argument(
        "--async",
        dest="async_variant",
        action="store_true",
        help="also run, each round, the fan-out from async bodies: wf.wait and asyncio.gather "
        "(the wfcore variants' order rotating per round)",
    )
    args = parser.parse_args()
    settings = settings_from(args)
    n = args.children or (100 if args.quick else 1000)
    # --async compares two variants' medians: a 1 -> 1000 round varies by +-10-20 % from one
    # turn to the next, so it takes 15 rounds for the medians to settle (5 without).
    rounds = args.rounds or (1 if args.quick else 15 if args.async_variant else 5)
    profile_dir = tempfile.mkdtemp(prefix="wfcore-bench-prof-") if args.profile else None
    load_before = os.getloadavg()[0]
    with running_rig(settings, profile_dir) as rig:
        log("warm-up")
        raw_fanout(rig, 50, 0)
        variants = list(VARIANTS) if args.async_variant else ["sync"]
        for variant in variants:
            wfcore_fanout(rig, 50, 0, variant)
        raw: list[dict[str, Any]] = []
        wfcs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
        for r in range(rounds):
            log(f"round {r + 1}/{rounds}: raw Dramatiq, 1 -> {n} -> join")
            raw.append(raw_fanout(rig, n, args.child_ms))
            log(f"  wall {raw[-1]['wall_s']} s, joins {raw[-1]['join_runs']}")
            shift = r % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                log(f"round {r + 1}/{rounds}: wfcore, 1 -> {n} -> {VARIANTS[variant]}")
                wfcs[variant].append(wfcore_fanout(rig, n, args.child_ms, variant))
                last = wfcs[variant][-1]
                log(f"  wall {last['wall_s']} s, parent resumes {last['parent_resumes']}")
    raw_side = _side(raw)
    sides = {v: _side(rounds_of) for v, rounds_of in wfcs.items()}
    wfc_side = sides["sync"]
    out: dict[str, Any] = {
        "benchmark": "B3",
        "mode": "quick" if args.quick else "full",
        "measures": (
            "One fan-out of n children and its join, n + 2 messages on both sides. wfcore: "
            "b3_parent runs wf.start_task(b3_child, i) n times, then one wf.wait(*handles), "
            "then INCRs a raw Redis key (join_runs: must be exactly 1); the wake-up message "
            "is sent by whichever child's outcome completes the set. Raw: raw_fan_parent sends "
            "n raw_fan_child messages; each INCRs a counter; the one reaching n sends "
            "raw_fan_join (join_runs counts its runs). wall_s = client time just before send "
            "-> worker finish time (root completion commit / join actor timestamp); "
            "fanout_sent_s = when the parent had sent its last child (raw: a timestamp after "
            "its send loop; wfcore: the end of the parent's first message, which records the "
            "children, sends them and suspends); "
            "children_done_s = when the last child finished. parent_messages = messages that ran "
            "the wfcore parent (2: first run + one wake-up). parent_attempts = runs of the "
            "wfcore parent claimed from the store (one per message, plus one when the suspend "
            "found every child already done and replayed at once, without a wake-up message: "
            "then messages_counted is n + 1), parent_body_runs = times its body started (a "
            "resume replays it from the top). child_sleep_ms: children sleep that long "
            "(--child-ms; 0 = empty children). Figures are the median round. parent_resumes = "
            "parent_body_runs - 1. With --async, wfcore_async and wfcore_gather are the same "
            "fan-out from async bodies (see variants), in the same rounds."
        ),
        "children": n,
        "child_sleep_ms": args.child_ms,
        "rounds": rounds,
        "settings": settings.as_json(),
        "machine": {**machine(), "load_1min_before": round(load_before, 2)},
        "wfcore": wfc_side,
        "raw_dramatiq": raw_side,
        "ratio_wfcore_to_raw_children_per_s": round(
            wfc_side["children_per_s"] / raw_side["children_per_s"], 3
        ),
        "ratio_per_round": [
            round(w["children_per_s"] / r["children_per_s"], 3)
            for w, r in zip(wfc_side["rounds"], raw_side["rounds"], strict=True)
        ],
        "join_exactly_once": wfc_side["exactly_once_every_round"],
    }
    if args.async_variant:
        out.update(_async_sides(sides))
    if profile_dir is not None:
        out["profile_wfcore_tottime_top"] = profile_summary(profile_dir)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
