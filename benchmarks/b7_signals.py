"""B7: a signal's wake-up latency vs one raw Dramatiq hop, and vs polling a flag, on Redis."""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._workers import (
    CpuMeter,
    Rig,
    add_worker_arguments,
    log,
    machine,
    percentile,
    running_rig,
    settings_from,
)

if TYPE_CHECKING:
    from collections.abc import Callable

TARGET_RATIO = 1.5  # p50 of signal -> next recorded operation, over p50 of one raw hop
_SETTLE = 0.3  # seconds for a suspension's commits and the workers' counters to go quiet


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _latency(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": _ms(percentile(values, 50)),
        "p90_ms": _ms(percentile(values, 90)),
        "p99_ms": _ms(percentile(values, 99)),
        "min_ms": _ms(min(values)),
        "max_ms": _ms(max(values)),
    }


def _until(what: str, value: Callable[[], Any], timeout: float = 30) -> Any:
    """Poll ``value()`` every 2 ms until it is not None; TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while (got := value()) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout} s")
        time.sleep(0.002)
    return got


def _stamp(rig: Rig, run: str, field: str, i: int = 0) -> Callable[[], float | None]:
    """Reads the time a worker wrote to ``key(run, field)[i]``, None until it has."""
    redis_key = rig.bench.key(run, field)

    def read() -> float | None:
        raw = rig.client.hget(redis_key, str(i))
        return None if raw is None else float(raw)

    return read


def _ready(handle: Any, i: int) -> Callable[[], bool | None]:
    """True once the waiter has registered its wait number ``i`` (its data "ready" is i)."""
    return lambda: True if handle.get_data("ready") == i else None


def latency_pairs(
    rig: Rig, n: int, per_workflow: int, gaps: tuple[float, float]
) -> dict[str, list[float]]:
    """n signals, each paired with one raw hop sent after the same idle gap (order alternates).

    Signal latency: just before ``handle.signal`` -> the time the woken workflow's next
    recorded operation (a ``wf.deterministic`` right after ``wait_signal``) took. Raw hop:
    just before ``actor.send`` -> the time the actor ran. Both times are this host's clock.
    """
    bench, rng = rig.bench, random.Random(7)
    run = uuid.uuid4().hex[:8]
    runs = [f"{run}-{w}" for w in range(-(-n // per_workflow))]
    waiters = [bench.b7_waiter.send_with_options(args=(r, per_workflow)) for r in runs]
    out: dict[str, list[float]] = {"signal": [], "hop": [], "signal_call": [], "hop_call": []}
    for i in range(n):
        handle, wrun, turn = waiters[i // per_workflow], runs[i // per_workflow], i % per_workflow
        _until(f"wait {turn} of {handle.workflow_id}", _ready(handle, turn))
        gap = rng.uniform(*gaps)
        for side in ("hop", "signal") if i % 2 == 0 else ("signal", "hop"):
            time.sleep(gap)
            sent = time.time()
            if side == "hop":
                bench.b7_hop.send(run, i)
                out["hop_call"].append(time.time() - sent)
                out["hop"].append(_until("a raw hop", _stamp(rig, run, "hop", i)) - sent)
                continue
            handle.signal("go", turn)
            out["signal_call"].append(time.time() - sent)
            woke = _until("a signalled wake-up", _stamp(rig, wrun, "woke", turn))
            out["signal"].append(woke - sent)
    for handle in waiters:
        handle.result(timeout=30)
    return out


def _commands(client: redis.Redis) -> dict[str, int]:
    """Calls per command so far (INFO commandstats; Lua scripts' inner calls included)."""
    stats: dict[str, Any] = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


class Window:
    """Worker and Redis CPU and Redis commands between ``start()`` and ``stop()``."""

    def __init__(self, rig: Rig) -> None:
        self._rig = rig

    def start(self) -> None:
        """Begin the window."""
        self._cpu = self._rig.meter.snapshot()
        self._cmds = _commands(self._rig.client)
        self._at = time.monotonic()

    def stop(self) -> dict[str, Any]:
        """End the window: totals and per-second rates (this client's INFO calls excluded)."""
        seconds = time.monotonic() - self._at
        cpu = CpuMeter.since(self._cpu, self._rig.meter.snapshot())
        after = _commands(self._rig.client)
        delta = {k: v - self._cmds.get(k, 0) for k, v in after.items() if k != "info"}
        delta = {k: v for k, v in sorted(delta.items(), key=lambda kv: -kv[1]) if v}
        scripts = sum(v for k, v in delta.items() if k in ("evalsha", "eval", "fcall"))
        total = sum(delta.values())
        return {
            "seconds": round(seconds, 3),
            "worker_cpu_ms_per_s": round(cpu["workers"] * 1000 / seconds, 2),
            "redis_cpu_ms_per_s": round(cpu["redis_server"] * 1000 / seconds, 2),
            "redis_commands_per_s": round(total / seconds, 1),
            "redis_scripts_per_s": round(scripts / seconds, 1),
            "redis_commands": total,
            "by_command": delta,
        }


def idle_window(rig: Rig, seconds: float) -> dict[str, Any]:
    """Nothing waiting: the workers' own idle polling of Redis."""
    window = Window(rig)
    time.sleep(_SETTLE)
    window.start()
    time.sleep(seconds)
    return window.stop()


def signal_wait_window(rig: Rig, seconds: float) -> dict[str, Any]:
    """One workflow suspended in ``wait_signal`` for ``seconds``, then signalled."""
    run = uuid.uuid4().hex[:8]
    handle = rig.bench.b7_waiter.send_with_options(args=(run, 1))
    _until("the waiter's wait", _ready(handle, 0))
    window = Window(rig)
    time.sleep(_SETTLE)
    window.start()
    time.sleep(seconds)
    sent = time.time()
    handle.signal("go", 0)
    woke = _until("the wake-up", _stamp(rig, run, "woke"))
    handle.result(timeout=30)
    time.sleep(_SETTLE)
    return {**window.stop(), "latency_ms": _ms(woke - sent)}


def poll_once(rig: Rig, interval: float, seconds: float, window: Window | None) -> dict[str, Any]:
    """A workflow polling a flag every ``interval`` s; the flag is set ``seconds`` after its
    first poll. Latency: just before the flag is set -> the check that saw it."""
    bench, run = rig.bench, uuid.uuid4().hex[:8]
    handle = bench.b7_poller.send_with_options(args=(run, interval))
    _until("the poller's first check", lambda: handle.get_data("polling"))
    if window is not None:
        time.sleep(_SETTLE)
        window.start()
        seconds -= _SETTLE
    time.sleep(seconds)
    sent = time.time()
    rig.client.set(bench.key(run, "flag"), 1)
    seen = _until("the poller seeing the flag", _stamp(rig, run, "seen"))
    polls = handle.result(timeout=30)
    out: dict[str, Any] = {"latency_s": seen - sent, "polls": polls}
    if window is not None:
        time.sleep(_SETTLE)
        out["window"] = window.stop()
    return out


def _over_idle(busy: dict[str, Any], idle: dict[str, Any]) -> dict[str, float]:
    """Rates above the idle window's, and the whole window's extra commands and CPU."""
    keys = ("worker_cpu_ms_per_s", "redis_cpu_ms_per_s", "redis_commands_per_s")
    out = {k: round(busy[k] - idle[k], 2) for k in keys}
    seconds = busy["seconds"]
    out["redis_commands"] = round(out["redis_commands_per_s"] * seconds)
    out["worker_cpu_ms"] = round(out["worker_cpu_ms_per_s"] * seconds, 1)
    return out


def main() -> None:
    """Run B7 and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__)
    add_worker_arguments(parser, threads=4)
    parser.add_argument("--signals", type=int, default=None, help="signals measured (200)")
    parser.add_argument("--per-workflow", type=int, default=20, help="waits per workflow")
    parser.add_argument("--gap-ms", type=float, nargs=2, default=(20, 120), help="idle gap")
    parser.add_argument("--wait-s", type=float, default=None, help="traffic window (5 s)")
    parser.add_argument("--poll-interval", type=float, default=0.1, help="polling: wf.sleep")
    parser.add_argument("--poll-samples", type=int, default=None, help="polling latencies")
    args = parser.parse_args()
    settings = settings_from(args)
    n = args.signals or (20 if args.quick else 200)
    wait_s = args.wait_s or (1.0 if args.quick else 5.0)
    poll_samples = args.poll_samples or (2 if args.quick else 20)
    gaps = (args.gap_ms[0] / 1000, args.gap_ms[1] / 1000)
    load_before = os.getloadavg()[0]
    with running_rig(settings) as rig:
        log("warm-up")
        latency_pairs(rig, 6, 3, gaps)
        log(f"latency: {n} signals, each paired with a raw hop")
        pairs = latency_pairs(rig, n, args.per_workflow, gaps)
        log(f"store traffic and CPU over a {wait_s} s wait: idle, signal, polling")
        idle = idle_window(rig, wait_s)
        waiting = signal_wait_window(rig, wait_s)
        polled = poll_once(rig, args.poll_interval, wait_s, Window(rig))
        log(f"polling latency, {poll_samples} samples")
        poll_rng = random.Random(11)
        polls = [polled] + [
            poll_once(rig, args.poll_interval, poll_rng.uniform(0.3, 0.6), None)
            for _ in range(poll_samples - 1)
        ]
    signal, hop = _latency(pairs["signal"]), _latency(pairs["hop"])
    extra = [s - h for s, h in zip(pairs["signal"], pairs["hop"], strict=True)]
    ratio = signal["p50_ms"] / hop["p50_ms"]
    out: dict[str, Any] = {
        "benchmark": "B7",
        "mode": "quick" if args.quick else "full",
        "measures": (
            "Sequential, unloaded latency on real `dramatiq` workers over Redis (RedisBroker + "
            "RedisStore on one server). signal_latency: just before handle.signal(...) -> the "
            "time taken inside the wf.deterministic the woken workflow runs right after "
            "wait_signal returns (its next recorded operation). raw_hop_latency: just before a "
            "raw actor's send -> the time the actor ran. Each signal is paired with one hop sent "
            "after the same random idle gap (gap_ms; order alternates), because the Redis "
            "consumers' idle backoff (up to worker_timeout_ms) is most of a hop. paired_extra_ms:"
            " signal minus its paired hop. signal_call / raw_send_call: how long "
            "handle.signal(...) / actor.send(...) took in the client. polling: the workaround, a "
            "workflow looping wf.sleep(interval) + wf.deterministic(check a flag); latency from "
            "just before the client sets the flag to the check that saw it. waiting: worker and "
            "Redis CPU and Redis commands (INFO commandstats, Lua scripts' inner calls included) "
            "per second over one wait of wait_s, including its wake-up, next to the same window "
            "with nothing waiting (idle: the consumers' own polling)."
        ),
        "signals": n,
        "per_workflow": args.per_workflow,
        "gap_ms": list(args.gap_ms),
        "settings": settings.as_json(),
        "machine": {**machine(), "load_1min_before": round(load_before, 2)},
        "signal_latency": signal,
        "raw_hop_latency": hop,
        "paired_extra_ms": _latency(extra),
        "signal_call": _latency(pairs["signal_call"]),
        "raw_send_call": _latency(pairs["hop_call"]),
        "ratio_p50_signal_to_raw_hop": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "target_met": ratio <= TARGET_RATIO,
        "polling": {
            "interval_s": args.poll_interval,
            "samples": len(polls),
            "latency": _latency([p["latency_s"] for p in polls]),
            "polls_in_traffic_window": polled["polls"],
        },
        "waiting": {
            "wait_s": wait_s,
            "idle": idle,
            "signal_wait": {**waiting, "over_idle": _over_idle(waiting, idle)},
            "polling": {**polled["window"], "over_idle": _over_idle(polled["window"], idle)},
        },
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
