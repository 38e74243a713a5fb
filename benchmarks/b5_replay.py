"""B5: replay verification speed (events/s) on a 10k-operation history; prints one JSON object."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any

from wfcore import LocalRunner, Replayer

TARGET_EVENTS_PER_S = 50_000
TEMPORAL_QUOTED = 3_800  # Temporal's Replayer on this machine, quoted from the issue, not measured


def build(n_ops: int) -> tuple[LocalRunner, str]:
    """Run one workflow recording ``n_ops`` operations of mixed kinds; its runner and id."""
    runner = LocalRunner()

    @runner.task(name="b5.child")
    def child(i: int) -> int:
        return i

    @runner.task(name="b5.flow")
    def flow(n: int) -> int:
        wf = flow.wf
        total = 0
        for i in range(n - 1):
            kind = i % 5
            if kind == 0:
                total += int(wf.random() * 10)
            elif kind == 1:
                wf.uuid()
            elif kind == 2:
                wf.utc_now()
            elif kind == 3:
                total += wf.deterministic("step", lambda i=i: i % 7)
            else:
                wf.set_data(f"k{i % 50}", i)
        return total + int(wf.execute_task(child, 1).result)

    workflow_id = runner.start(flow, n_ops)
    runner.run_until_idle()
    return runner, workflow_id


def measure(n_ops: int, rounds: int) -> dict[str, Any]:
    """Replay the recorded workflow ``rounds`` times; best and median events/s."""
    runner, workflow_id = build(n_ops)
    replayer = Replayer(runner.engine.task, codec=runner.engine.codec)
    times = []
    events = 0
    for _ in range(rounds):
        start = time.perf_counter()
        result = replayer.replay(runner.store, workflow_id)
        times.append(time.perf_counter() - start)
        if not result.ok:
            raise SystemExit(f"replay diverged: {result.divergence}")
        events = result.events
    times.sort()
    median = times[len(times) // 2]
    return {
        "events": events,
        "invocations_replayed": 2,
        "seconds_best": round(times[0], 4),
        "seconds_median": round(median, 4),
        "events_per_s_best": round(events / times[0]),
        "events_per_s_median": round(events / median),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1k operations, 3 rounds")
    args = parser.parse_args()
    n_ops, rounds = (1_000, 3) if args.quick else (10_000, 7)
    print(f"B5: recording {n_ops} operations, replaying {rounds} times", file=sys.stderr)
    result = measure(n_ops, rounds)
    report = {
        "benchmark": "B5",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "operations": n_ops,
        "replay": result,
        "target_events_per_s": TARGET_EVENTS_PER_S,
        "target_met": result["events_per_s_median"] >= TARGET_EVENTS_PER_S,
        "temporal_replayer_quoted_events_per_s": TEMPORAL_QUOTED,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
