"""B2/B3 harness: settings, a throwaway Redis, real `dramatiq` worker processes, statistics."""

from __future__ import annotations

import argparse
import os
import platform
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import dramatiq
import redis

from tests.support.redis_server import RedisServer, start_redis, stop_redis

__all__ = [
    "ROOT",
    "CpuMeter",
    "Rig",
    "Start",
    "WorkerSettings",
    "Workers",
    "add_worker_arguments",
    "environment",
    "log",
    "machine",
    "percentile",
    "profile_summary",
    "running_rig",
    "settings_from",
    "start_phase",
    "throwaway_redis",
    "wait_until",
]

ROOT = Path(__file__).resolve().parent.parent
WORKER_MODULE = "benchmarks._bench_app"


def log(message: str) -> None:
    """Progress on stderr (stdout carries only the JSON result)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """How the `dramatiq` workers run; the same for wfcore and the raw baseline.

    Attributes:
        processes: worker processes (``--processes``).
        threads: worker threads per process (``--threads``).
        queue_prefetch: ``dramatiq_queue_prefetch``; None keeps Dramatiq's 2 x threads.
        worker_timeout_ms: ``dramatiq_worker_timeout``, the longest idle poll backoff of a
            Redis consumer; None keeps Dramatiq's 1000 ms (the command line defaults to 100).
        heartbeat_timeout_ms: RedisBroker ``heartbeat_timeout``.
        maintenance_chance: RedisBroker ``maintenance_chance`` (per million commands).
        unix_socket: the broker and the store reach Redis over its Unix socket, not TCP.
    """

    processes: int = 2
    threads: int = 8
    queue_prefetch: int | None = None
    worker_timeout_ms: int | None = None
    heartbeat_timeout_ms: int = 60_000
    maintenance_chance: int = 1000
    unix_socket: bool = False

    def as_json(self) -> dict[str, Any]:
        """The settings, with Dramatiq's defaults spelled out."""
        data = asdict(self)
        data["queue_prefetch"] = self.queue_prefetch or 2 * self.threads
        data["worker_timeout_ms"] = self.worker_timeout_ms or 1000
        return data


def add_worker_arguments(parser: argparse.ArgumentParser, *, threads: int) -> None:
    """The command-line options shared by B2 and B3."""
    parser.add_argument("--quick", action="store_true", help="a small, fast run")
    parser.add_argument("--processes", type=int, default=2, help="dramatiq --processes")
    parser.add_argument("--threads", type=int, default=threads, help="dramatiq --threads")
    parser.add_argument("--prefetch", type=int, default=None, help="dramatiq_queue_prefetch")
    parser.add_argument(
        "--worker-timeout",
        type=int,
        default=100,
        help="dramatiq_worker_timeout in ms (Dramatiq's default is 1000; 100 keeps the idle "
        "poll backoff from adding up to a second to the start of a round)",
    )
    parser.add_argument(
        "--heartbeat-timeout", type=int, default=60_000, help="RedisBroker heartbeat_timeout"
    )
    parser.add_argument(
        "--maintenance-chance", type=int, default=1000, help="RedisBroker maintenance_chance"
    )
    parser.add_argument("--rounds", type=int, default=None, help="alternating rounds per side")
    parser.add_argument(
        "--unix-socket",
        action="store_true",
        help="workers reach Redis (broker and store) over its Unix socket instead of TCP",
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile wfcore messages in the workers"
    )


def settings_from(args: argparse.Namespace) -> WorkerSettings:
    """Worker settings from parsed command-line options."""
    return WorkerSettings(
        processes=args.processes,
        threads=args.threads,
        queue_prefetch=args.prefetch,
        worker_timeout_ms=args.worker_timeout,
        heartbeat_timeout_ms=args.heartbeat_timeout,
        maintenance_chance=args.maintenance_chance,
        unix_socket=args.unix_socket,
    )


def worker_url(server: RedisServer, settings: WorkerSettings) -> str:
    """The Redis URL the workers' broker and store use: TCP, or the Unix socket."""
    return f"unix://{server.socket_path}" if settings.unix_socket else server.url(0)


def environment(
    url: str, namespace: str, settings: WorkerSettings, profile_dir: str | None
) -> dict[str, str]:
    """Variables that make `benchmarks._bench_app` (here and in the workers) agree."""
    env = {
        "WFCORE_BENCH_REDIS_URL": url,
        "WFCORE_BENCH_NAMESPACE": namespace,
        "WFCORE_BENCH_HEARTBEAT_MS": str(settings.heartbeat_timeout_ms),
        "WFCORE_BENCH_MAINTENANCE_CHANCE": str(settings.maintenance_chance),
    }
    if settings.queue_prefetch is not None:
        env["dramatiq_queue_prefetch"] = str(settings.queue_prefetch)
    if settings.worker_timeout_ms is not None:
        env["dramatiq_worker_timeout"] = str(settings.worker_timeout_ms)
    if profile_dir is not None:
        env["WFCORE_BENCH_PROFILE_DIR"] = profile_dir
    return env


@contextmanager
def throwaway_redis() -> Iterator[tuple[RedisServer, str]]:
    """A redis-server on a free port (never 6379) and a fresh namespace; stopped by pid."""
    server = start_redis()
    log(f"redis-server pid {server.pid} on port {server.port}")
    try:
        yield server, f"wfbench-{uuid.uuid4().hex[:8]}"
    finally:
        stop_redis(server)


class Workers:
    """`dramatiq benchmarks._bench_app:broker` started in its own session, stopped by pid."""

    def __init__(self, env: dict[str, str], settings: WorkerSettings, client: redis.Redis) -> None:
        self._settings = settings
        self._client = client
        self._namespace = env["WFCORE_BENCH_NAMESPACE"]
        self._logdir = tempfile.mkdtemp(prefix="wfcore-bench-workers-")
        self.log_path = Path(self._logdir) / "workers.log"
        command = [str(Path(sys.executable).parent / "dramatiq"), f"{WORKER_MODULE}:broker"]
        command += ["--processes", str(settings.processes), "--threads", str(settings.threads)]
        command += ["--worker-shutdown-timeout", "20000"]
        with self.log_path.open("wb") as out:
            self._proc = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        log(f"dramatiq master pid {self._proc.pid}: {' '.join(command[1:])}")
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        pids = f"{self._namespace}:bench:pids"
        deadline = time.monotonic() + 60
        while self._client.scard(pids) < self._settings.processes:
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dramatiq workers did not start; see {self.log_path}")
            time.sleep(0.05)
        log(f"{self._settings.processes} worker processes up")

    def pids(self) -> list[int]:
        """Pids of the worker processes (each registers itself at boot)."""
        return sorted(int(p) for p in self._client.smembers(f"{self._namespace}:bench:pids"))

    def messages(self) -> int:
        """Messages processed so far by all workers (flushed every 0.1 s)."""
        return int(self._client.get(f"{self._namespace}:bench:messages") or 0)

    def settled_messages(self) -> int:
        """The processed-message count once the workers' counters have been flushed."""
        time.sleep(0.35)
        return self.messages()

    def stop(self) -> None:
        """SIGTERM the master (it stops its workers); SIGKILL its session if it hangs."""
        if self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        log(f"dramatiq master pid {self._proc.pid} exited with {self._proc.returncode}")

    def tail(self, lines: int = 30) -> str:
        """The end of the workers' log, for error reports."""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def cleanup(self) -> None:
        """Remove the log directory."""
        shutil.rmtree(self._logdir, ignore_errors=True)


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


class CpuMeter:
    """CPU seconds spent by redis-server, the worker processes and this client in a phase."""

    def __init__(self, redis_pid: int, worker_pids: list[int]) -> None:
        self._groups = {"redis_server": [redis_pid], "workers": worker_pids}

    def snapshot(self) -> dict[str, float]:
        """CPU seconds so far, per group."""
        out = {name: sum(_cpu_seconds(p) for p in pids) for name, pids in self._groups.items()}
        times = os.times()
        out["client"] = times.user + times.system
        return out

    @staticmethod
    def since(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        """CPU seconds per group between two snapshots."""
        return {name: after[name] - before[name] for name in before}


@dataclass(frozen=True, slots=True)
class Rig:
    """What a phase needs: the worker module, a raw client, the workers and a CPU meter."""

    bench: ModuleType
    client: redis.Redis
    workers: Workers
    meter: CpuMeter


@dataclass(frozen=True, slots=True)
class Start:
    """Counters at the start of a phase."""

    at: float
    messages: int
    cpu: dict[str, float]


@contextmanager
def running_rig(settings: WorkerSettings, profile_dir: str | None = None) -> Iterator[Rig]:
    """A throwaway Redis, the worker module imported with its settings, and the `dramatiq`
    workers started; on exit (the workers' log tail on stderr after an error) all stopped."""
    with throwaway_redis() as (server, namespace):
        env = environment(worker_url(server, settings), namespace, settings, profile_dir)
        os.environ.update(env)  # the worker module reads them at import, here and in workers
        from benchmarks import _bench_app as bench

        client = redis.Redis.from_url(server.url(0))
        workers = Workers(env, settings, client)
        try:
            yield Rig(bench, client, workers, CpuMeter(server.pid, workers.pids()))
        except BaseException:
            log("workers' log:\n" + workers.tail())
            raise
        finally:
            workers.stop()
            workers.cleanup()
            bench.store.close()
            client.close()


def start_phase(rig: Rig) -> Start:
    """Time, message count and CPU now: the start of a measured phase."""
    return Start(time.time(), rig.workers.messages(), rig.meter.snapshot())


def wait_until(what: str, done: Callable[[], bool], timeout: float) -> None:
    """Poll ``done`` every 20 ms until it is true; TimeoutError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout} s")
        time.sleep(0.02)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def profile_summary(directory: str, top: int = 15) -> list[dict[str, Any]]:
    """The functions with the most own time in the workers' merged cProfile dumps."""
    files = sorted(str(p) for p in Path(directory).glob("*.pstats"))
    if not files:
        return []
    stats = pstats.Stats(*files, stream=sys.stderr)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = sorted(table.items(), key=lambda item: item[1][2], reverse=True)[:top]
    total = float(stats.total_tt)  # type: ignore[attr-defined]
    return [
        {
            "function": f"{Path(file).name}:{line}({name})",
            "calls": int(calls),
            "tottime_s": round(tottime, 3),
            "share": round(tottime / total, 3) if total else 0.0,
        }
        for (file, line, name), (_, calls, tottime, _, _) in rows
    ]


def machine() -> dict[str, Any]:
    """Where and when the numbers were taken."""
    load = os.getloadavg()
    version = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True, check=False
    ).stdout.split()
    return {
        "cpus": os.cpu_count(),
        "load_avg_1_5_15": [round(x, 2) for x in load],
        "python": platform.python_version(),
        "dramatiq": dramatiq.__version__,
        "redis_py": redis.__version__,
        "redis_server": next((v[2:] for v in version if v.startswith("v=")), "?"),
        "wfcore_git": _git_revision(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _git_revision() -> str:
    """The checked-out commit, with ``-dirty`` when the library has local changes."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return out.stdout.strip()

    dirty = git("status", "--porcelain", "--", "wfcore", "wfcore_dramatiq")
    return (git("rev-parse", "--short", "HEAD") or "?") + ("-dirty" if dirty else "")
