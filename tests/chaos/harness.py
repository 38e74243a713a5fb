"""Real ``dramatiq`` worker processes that crash, and the checks the chaos suite runs after.

A ``ChaosDeployment`` is one test's world on the throwaway redis-server: a RedisBroker
namespace, a RedisStore prefix and a bookkeeping prefix, all unique and deleted afterwards;
the client ``App`` (test process) and any number of ``ChaosWorker`` processes running
``dramatiq tests.chaos.worker:broker`` built from the same environment.

Brokers use a 2 s heartbeat timeout and run queue maintenance on every command, so messages a
dead worker had fetched go back to their queue about 2 s after it died (Dramatiq's own
redelivery); the Apps sweep every 0.5 s for invocations idle 1 s (wfcore's recovery).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dramatiq.brokers.redis import RedisBroker

from tests.chaos.apps import ChaosTasks
from tests.chaos.crashing import CRASH_ENV, Book, CrashingStore, CrashMiddleware
from tests.support.waiting import wait_for
from wfcore import Codec, WorkflowStatus
from wfcore._models import InvocationRecord
from wfcore.store import RedisStore, StateStore, open_store
from wfcore_dramatiq import App

__all__ = [
    "ROOT",
    "ChaosDeployment",
    "ChaosWorker",
    "TreeReport",
    "build_app",
    "check_tree",
    "prefix_violations",
    "snapshot",
    "tree_workflows",
    "wait_all",
    "wait_for",
]

ROOT = Path(__file__).resolve().parents[2]
_READY = "Worker process is ready for action"
_CODEC = Codec()

HEARTBEAT_TIMEOUT_MS = 2000
RECOVERY_INTERVAL = 0.5
STALE_AFTER = 1.0


def build_app(env: Mapping[str, str], *, armed: bool) -> tuple[App, ChaosTasks]:
    """The App and its tasks, as the test process and the worker processes build them.

    The store is the real ``RedisStore`` behind a ``CrashingStore`` (bookkeeping; crash
    injection only when ``armed`` and ``WFCORE_CRASH_POINT`` is set). Without a crash
    point the store's commits write the messages (``RedisOutbox``), as in production.
    """
    url = env["WFCORE_CHAOS_REDIS_URL"]
    book = Book(url, env["WFCORE_CHAOS_BOOK"])
    point = (env.get(CRASH_ENV) or None) if armed else None
    broker = RedisBroker(  # type: ignore[no-untyped-call]
        url=url,
        namespace=env["WFCORE_CHAOS_NAMESPACE"],
        heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
        maintenance_chance=1_000_000,
    )
    broker.add_middleware(CrashMiddleware(book, point))
    # The store: under a prefix on the broker's Redis, or elsewhere (a PostgreSQL schema).
    store_url = env.get("WFCORE_CHAOS_STORE_URL")
    inner = (
        open_store(store_url) if store_url else RedisStore(url, prefix=env["WFCORE_CHAOS_PREFIX"])
    )
    store = CrashingStore(inner, book, point)
    app = App(
        broker=broker,
        store=store,
        recovery_interval=RECOVERY_INTERVAL,
        stale_after=STALE_AFTER,
        # Crash points sit between a commit and its sends; unarmed runs (the SIGKILL chaos
        # tests) use the default, where commits write the messages.
        enqueue_in_commit=point is None,
    )
    return app, ChaosTasks(app, book)


class ChaosWorker:
    """``dramatiq tests.chaos.worker:broker`` (one worker process) in its own process group.

    ``kill()`` SIGKILLs that group (the CLI and its worker process: a machine losing power),
    which holds only the processes this object started.
    """

    def __init__(self, env: Mapping[str, str], log_path: Path, *, threads: int = 4) -> None:
        self.env = dict(env)
        self.log_path = log_path
        self.threads = threads
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready_timeout: float = 30.0) -> ChaosWorker:
        """Start the CLI and wait until its worker consumes."""
        exe = Path(sys.executable).parent / "dramatiq"
        args = [str(exe), "tests.chaos.worker:broker", "--processes", "1"]
        args += ["--threads", str(self.threads), "--path", str(ROOT)]
        args += ["--worker-shutdown-timeout", "3000"]
        env = {**os.environ, **self.env, "PYTHONPATH": str(ROOT)}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        offset = self._ready_count()
        deadline = time.monotonic() + ready_timeout
        while self._ready_count() <= offset:
            if self.proc.poll() is not None and self._ready_count() <= offset:
                # It may have crashed already (a crash point hit at once): that is a start too.
                if self.proc.returncode == 137 or self.proc.returncode == -signal.SIGKILL:
                    return self
                raise RuntimeError(f"dramatiq worker did not start:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"dramatiq worker did not start:\n{self.log()[-3000:]}")
            time.sleep(0.02)
        return self

    def _ready_count(self) -> int:
        return self.log().count(_READY)

    def log(self) -> str:
        """What the worker logged so far (every start of this object)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_exit(self, timeout: float) -> int:
        """Wait until the CLI exits (it does when its worker process died); its exit code."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"worker did not exit within {timeout} s:\n{self.log()[-3000:]}"
            ) from None

    def kill(self) -> None:
        """SIGKILL the CLI's process group (only the processes this object started)."""
        self._signal(signal.SIGKILL, timeout=10)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the CLI's process group and wait for Dramatiq's graceful shutdown: every
        message the worker processed is acknowledged (a SIGKILL can land between a
        workflow's last commit and its message's ack, and Redis redelivers that message
        once the worker's heartbeat expires)."""
        self._signal(signal.SIGTERM, timeout=timeout)

    def _signal(self, signum: int, timeout: float) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            # The group id is the CLI's pid, still ours until it is reaped just below.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signum)
        proc.wait(timeout=timeout)


@dataclass
class ChaosDeployment:
    """One test's isolated names on the test redis-server, its client App and its workers."""

    url: str
    run: str
    tmp: Path
    store_url: str | None = None
    """The store's URL when it is not a RedisStore under ``prefix`` on ``url``."""
    app: App = field(init=False)
    tasks: ChaosTasks = field(init=False)
    book: Book = field(init=False)
    workers: list[ChaosWorker] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.app, self.tasks = build_app(self.env(), armed=False)
        self.book = self.tasks.book

    @property
    def namespace(self) -> str:
        """The RedisBroker namespace."""
        return f"wfcore-chaos-{self.run}"

    @property
    def prefix(self) -> str:
        """The RedisStore prefix."""
        return f"wfcore-chaos-store-{self.run}"

    @property
    def book_prefix(self) -> str:
        """The prefix of the bookkeeping keys."""
        return f"wfcore-chaos-book-{self.run}"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment a worker process builds the same App from."""
        return {
            "WFCORE_CHAOS_REDIS_URL": self.url,
            "WFCORE_CHAOS_NAMESPACE": self.namespace,
            "WFCORE_CHAOS_PREFIX": self.prefix,
            "WFCORE_CHAOS_BOOK": self.book_prefix,
            "WFCORE_CHAOS_STORE_URL": self.store_url or "",
            CRASH_ENV: "",
            **extra,
        }

    def worker(self, name: str, *, threads: int = 4, crash_point: str = "") -> ChaosWorker:
        """A worker process (not started), armed to die at ``crash_point`` if given; killed
        when the test ends."""
        env = self.env(**{CRASH_ENV: crash_point})
        worker = ChaosWorker(env, self.tmp / f"{name}.log", threads=threads)
        self.workers.append(worker)
        return worker

    @property
    def store(self) -> StateStore:
        """The client's store."""
        return self.app.store

    def drop_broker_state(self) -> None:
        """Delete every broker key (queues, delayed and unacked messages): a broker that
        restarted empty. The store is untouched."""
        client = self.book.client
        keys = list(client.scan_iter(match=f"{self.namespace}:*", count=1000))
        if keys:
            client.delete(*keys)

    def close(self) -> None:
        """Stop every worker, close the client, delete every key this test created."""
        for worker in self.workers:
            worker.kill()
        self.app.close()
        self.app.broker.close()
        client = self.book.client
        for prefix in (self.namespace, self.prefix, self.book_prefix):
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            for i in range(0, len(keys), 500):
                client.delete(*keys[i : i + 500])
        self.book.close()


# -- reading the store ------------------------------------------------------------------------


def tree_workflows(store: StateStore, root_id: str) -> list[str]:
    """The workflow and every descendant workflow, parents first."""
    found, pending = [], [root_id]
    while pending:
        current = pending.pop(0)
        found.append(current)
        pending += [w.workflow_id for w in store.child_workflows(current)]
    return found


Snapshot = dict[tuple[str, str], list[bytes]]


def snapshot(store: StateStore, root_ids: Iterable[str]) -> Snapshot:
    """The recorded operations (raw bytes) of every invocation of these workflow trees."""
    out: Snapshot = {}
    for root in root_ids:
        for wid in tree_workflows(store, root):
            for inv in store.list_invocations(wid):
                snap = store.load(wid, inv.invocation_id, claim=False)
                assert snap is not None, (wid, inv.invocation_id)
                out[(wid, inv.invocation_id)] = [e for e in snap.entries if e[0] != 0x94]
    return out


def prefix_violations(before: Snapshot, after: Snapshot) -> list[str]:
    """Where ``after`` does not extend ``before`` byte for byte (a recorded value changed)."""
    problems = []
    for key, ops in before.items():
        later = after.get(key)
        if later is None:
            problems.append(f"{key}: invocation disappeared")
        elif later[: len(ops)] != ops:
            first = next(i for i, (a, b) in enumerate(zip(ops, later, strict=False)) if a != b)
            problems.append(f"{key}: seq {first} changed")
    return problems


def decode_op(data: bytes) -> tuple[str, str, Any]:
    """(kind, name, value) of one recorded operation."""
    raw = _CODEC.decode(data, what="history entry")
    return str(raw[0]), str(raw[1]), raw[3]


@dataclass
class TreeReport:
    """What ``check_tree`` found in one workflow tree."""

    workflows: int = 0
    invocations: int = 0
    start_tasks: int = 0
    problems: list[str] = field(default_factory=list)
    expected_recorded: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)
    children: set[str] = field(default_factory=set)


def check_tree(store: StateStore, root_id: str) -> TreeReport:
    """Structural invariants of one finished workflow tree, from the store alone.

    Every invocation is COMPLETED with an outcome; every ``start_task`` entry names a child
    that exists exactly where it says (workflow, parent invocation, parent seq); the parent
    holds an outcome at that seq equal (byte for byte) to the child's own; every sleep has a
    fired outcome; and there is no invocation or child workflow that no ``start_task`` made.
    """
    report = TreeReport()
    workflows = tree_workflows(store, root_id)
    report.workflows = len(workflows)
    invs: dict[tuple[str, str], InvocationRecord] = {}
    for wid in workflows:
        record = store.get_workflow(wid)
        if record is None or record.status is not WorkflowStatus.COMPLETED:
            report.problems.append(f"workflow {wid}: {None if record is None else record.status}")
        for inv in store.list_invocations(wid):
            invs[(wid, inv.invocation_id)] = inv
    report.invocations = len(invs)
    made: set[tuple[str, str]] = {(root_id, root_id)}
    child_workflows: set[str] = set()
    for (wid, iid), inv in invs.items():
        where = f"{wid}/{iid}"
        snap = store.load(wid, iid, claim=False)
        assert snap is not None
        if inv.status is not WorkflowStatus.COMPLETED or inv.outcome is None:
            report.problems.append(f"{where}: status {inv.status}")
            continue
        report.finished.add(f"{wid} {iid}")
        ops = [decode_op(e) for e in snap.entries if e[0] != 0x94]
        for seq, (kind, _name, value) in enumerate(ops):
            if kind == "sleep":
                report.expected_recorded.add(f"{wid} {iid} {seq}")
                if seq not in snap.outcomes:
                    report.problems.append(f"{where}: sleep at seq {seq} has no fired outcome")
            if kind != "start_task":
                continue
            report.start_tasks += 1
            report.expected_recorded.add(f"{wid} {iid} {seq}")
            child_iid, child_wid = value[0], value[1]
            made.add((child_wid, child_iid))
            report.children.add(f"{child_wid} {child_iid}")
            if child_wid != wid:
                child_workflows.add(child_wid)
            child = invs.get((child_wid, child_iid))
            if child is None:
                report.problems.append(f"{where}: seq {seq} names missing child {child_iid}")
                continue
            if (child.parent_invocation_id, child.parent_seq) != (iid, seq):
                report.problems.append(f"{where}: child {child_iid} points elsewhere")
            if snap.outcomes.get(seq) != child.outcome:
                report.problems.append(f"{where}: outcome at seq {seq} != child {child_iid}'s")
    extra = set(invs) - made
    if extra:
        report.problems.append(f"invocations no start_task made: {sorted(extra)}")
    stored_children = set(workflows) - {root_id}
    if stored_children != child_workflows:
        report.problems.append(
            f"child workflows {sorted(stored_children)} != started {sorted(child_workflows)}"
        )
    return report


def book_problems(
    book: Book, reports: Iterable[TreeReport], *, exact: bool, dispatched_exact: bool = False
) -> list[str]:
    """Bookkeeping checks over finished trees.

    Each child outcome and fired timer recorded (``recorded=True``) at most once, each
    invocation's finish committed at most once, each child message sent by a parent run at
    most once, and a child that no parent run sent (its parent died between recording it and
    sending it) re-sent by a recovery sweep. With ``exact``, each of the first two exactly
    once (nothing was killed between a store write and its count); with ``dispatched_exact``
    every child sent exactly once by a parent run (nothing interrupted the sends).

    The re-sent check needs ``exact`` too: a worker SIGKILLed at a random moment can die
    after a child's message left (sent, or written by the commit as an outbox push) and
    before it was counted; that child ran, and nothing re-sent it. Under random kills, that
    no work was lost is what the finished trees show.
    """
    recorded, finished, dispatched, swept = (
        book.counts("recorded"),
        book.counts("finished"),
        book.counts("dispatched"),
        book.counts("swept"),
    )
    problems: list[str] = []
    want_recorded: set[str] = set()
    want_finished: set[str] = set()
    children: set[str] = set()
    for report in reports:
        want_recorded |= report.expected_recorded
        want_finished |= report.finished
        children |= report.children
    for name, counts, want in (
        ("recorded", recorded, want_recorded),
        ("finished", finished, want_finished),
    ):
        for key in want:
            n = counts.get(key, 0)
            if n > 1 or (exact and n != 1):
                problems.append(f"{name} {key}: {n} times")
    for key in children:
        n = dispatched.get(key, 0)
        if n > 1 or (dispatched_exact and n != 1):
            problems.append(f"child {key} dispatched {n} times by parent runs")
        if exact and n == 0 and not swept.get(key):
            problems.append(f"child {key} was neither sent by its parent nor by a sweep")
    return problems


def wait_all(handles: Iterable[Any], timeout: float) -> list[Any]:
    """Results of workflow handles, all within one overall ``timeout``."""
    deadline = time.monotonic() + timeout
    return [h.result(timeout=max(0.1, deadline - time.monotonic())) for h in handles]


def deployment_fixture(
    url: str, tmp: Path, run: str, store_url: str | None = None
) -> Iterator[ChaosDeployment]:
    """Build a deployment, yield it, clean up (the fixture body of ``conftest.chaos``)."""
    dep = ChaosDeployment(url, run, tmp, store_url)
    try:
        yield dep
    finally:
        dep.close()
