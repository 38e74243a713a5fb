"""Worker module of B2/B3: RedisBroker, RedisStore, wfcore tasks and raw actors, from env vars."""

from __future__ import annotations

import cProfile
import os
import threading
import time
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Middleware

from benchmarks._b2_ops import b2_sync
from benchmarks._bench_async import declare as declare_async
from benchmarks._styles import declare as declare_styles
from wfcore._models import Batch, InvocationRecord, WorkflowRecord
from wfcore.store.redis import RedisStore
from wfcore_dramatiq import App

# The benchmark process and the `dramatiq benchmarks._bench_app:broker` workers read the same
# variables, so they agree on the server, the key namespaces and the broker settings.
ENV_URL = "WFCORE_BENCH_REDIS_URL"
ENV_NAMESPACE = "WFCORE_BENCH_NAMESPACE"
ENV_HEARTBEAT = "WFCORE_BENCH_HEARTBEAT_MS"
ENV_MAINTENANCE = "WFCORE_BENCH_MAINTENANCE_CHANCE"
ENV_PROFILE = "WFCORE_BENCH_PROFILE_DIR"

_FLUSH_EVERY = 0.1  # seconds between two writes of the processed-message counter
_PROFILED_PREFIXES = ("b2_", "b3_")  # only wfcore tasks are profiled, never the raw actors
_PARENTS = frozenset({"b3_parent", "b3_parent_async", "b3_gather"})  # B3's fan-out parents


def _setting(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(
            f"{name} is not set: this module is imported by the B2/B3 benchmarks, which set it "
            "before starting `dramatiq benchmarks._bench_app:broker`; run those scripts instead"
        )
    return value


REDIS_URL = _setting(ENV_URL)
NAMESPACE = _setting(ENV_NAMESPACE)


def key(*parts: object) -> str:
    """A raw Redis key of this run (counters, finish times), outside wfcore's and Dramatiq's."""
    return ":".join([NAMESPACE, "bench", *(str(p) for p in parts)])


class MessageCounter(Middleware):
    """Counts processed messages per worker process; a thread adds them to one Redis key."""

    def __init__(self, redis_key: str) -> None:
        self._key = redis_key
        self._lock = threading.Lock()
        self._pending = 0

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        """Register this worker process and start the counter's flush thread."""
        client = _client(broker)
        client.sadd(key("pids"), os.getpid())
        threading.Thread(target=self._flush_forever, args=(client,), daemon=True).start()

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        """Count one processed message (successful or not)."""
        with self._lock:
            self._pending += 1

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        """Count one skipped message."""
        with self._lock:
            self._pending += 1

    def _flush_forever(self, client: Any) -> None:
        while True:
            time.sleep(_FLUSH_EVERY)
            with self._lock:
                pending, self._pending = self._pending, 0
            if pending:
                client.incrby(self._key, pending)


class ParentRuns(Middleware):
    """Records when each message that ran a ``b3_parent`` invocation finished, per workflow.

    The first one is the end of the fan-out: children recorded, sent, and the parent suspended.
    """

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        """Append the time to ``key("parent_runs", workflow_id)``."""
        if message.actor_name not in _PARENTS:
            return
        target = message.options.get("wfcore")
        if isinstance(target, dict) and isinstance(target.get("workflow_id"), str):
            _client(broker).rpush(key("parent_runs", target["workflow_id"]), repr(time.time()))


class Profiler(Middleware):
    """cProfile of wfcore message processing, per worker thread, dumped at worker shutdown."""

    def __init__(self, directory: str) -> None:
        self._dir = Path(directory)
        self._local = threading.local()
        self._all: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def _profile(self) -> cProfile.Profile:
        profile: cProfile.Profile | None = getattr(self._local, "profile", None)
        if profile is None:
            # Per-thread CPU time, not wall time: waiting for Redis or the GIL is not counted.
            profile = self._local.profile = cProfile.Profile(time.thread_time)
            with self._lock:
                self._all.append(profile)
        return profile

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        """Start profiling this thread if the message runs a wfcore task."""
        if message.actor_name.startswith(_PROFILED_PREFIXES):
            self._local.active = True
            self._profile().enable()

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        """Stop profiling this thread."""
        if getattr(self._local, "active", False):
            self._local.active = False
            self._profile().disable()

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        """Write one .pstats file per worker thread that ran wfcore tasks."""
        self._dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            for n, profile in enumerate(self._all):
                profile.dump_stats(self._dir / f"wfcore-{os.getpid()}-{n}.pstats")


def _client(broker: dramatiq.Broker) -> Any:
    return broker.client  # type: ignore[attr-defined]


broker = RedisBroker(  # type: ignore[no-untyped-call]
    url=REDIS_URL,
    namespace=f"{NAMESPACE}-dramatiq",
    heartbeat_timeout=int(os.environ.get(ENV_HEARTBEAT) or 60_000),
    maintenance_chance=int(os.environ.get(ENV_MAINTENANCE) or 1000),
)
broker.add_middleware(MessageCounter(key("messages")))
broker.add_middleware(ParentRuns())
if os.environ.get(ENV_PROFILE):
    broker.add_middleware(Profiler(os.environ[ENV_PROFILE]))
redis_client: Any = broker.client
store = RedisStore(REDIS_URL, prefix=f"{NAMESPACE}-wfcore")
app = App(broker=broker, store=store)


# -- B2: a workflow with 3 sequential children and 10 deterministic operations --------------


@app.task
def b2_step(x: int) -> int:
    """A child: one message to run it, then its outcome wakes the parent."""
    return x + 1


@app.task
def b2_workflow(n: int) -> dict[str, Any]:
    """Root message + 3 child messages + 3 wake messages = 7 messages; 10 wf operations."""
    return b2_sync(b2_workflow.wf, b2_step, n)


def b2_expected(n: int) -> int:
    """The ``value`` a ``b2_workflow(n)`` returns."""
    return 2 * (n + 2) + 1


CHAIN_LENGTH = 7  # messages of one B2 workflow, as the raw chain moves them


@dramatiq.actor(broker=broker, actor_name="raw_chain")
def raw_chain(run: str, n: int, step: int, sent_at: float) -> None:
    """One hop of a 7-message chain; the last hop records its finish time."""
    if step + 1 < CHAIN_LENGTH:
        raw_chain.send(run, n, step + 1, sent_at)
        return
    redis_client.hset(key(run, "finished"), str(n), repr(time.time()))


STORE_CHAIN_CHECKPOINT = 4  # the hop that is the root's third run, with its checkpoint
# What a recorded random() looks like: [kind, name, ok, value, time].
_STORE_CHAIN_ENTRY = app.engine.codec.encode(["random", "", True, 0.5, 1.7e9])


def store_chain_records(run: str, n: int) -> tuple[WorkflowRecord, InvocationRecord]:
    """The workflow record and root invocation a ``store_chain`` works on."""
    wid, now = f"store-{run}-{n}", time.time()
    workflow = WorkflowRecord(
        workflow_id=wid,
        workflow_type="store_chain",
        root_workflow_id=wid,
        root_invocation_id=wid,
        created_at=now,
        updated_at=now,
    )
    root = InvocationRecord(
        invocation_id=wid,
        workflow_id=wid,
        task_name="store_chain",
        args=b"\x90",
        created_at=now,
        updated_at=now,
    )
    return workflow, root


@dramatiq.actor(broker=broker, actor_name="store_chain")
def store_chain(run: str, n: int, step: int, sent_at: float) -> None:
    """The raw chain plus B2's store round trips and nothing else of wfcore: each hop makes a
    claiming load and a commit of one entry (two commits at the checkpoint hop)."""
    wid = f"store-{run}-{n}"
    snap = store.load(wid, wid)
    if snap is None:
        raise RuntimeError(f"store_chain: no workflow {wid!r}")
    base = len(snap.entries)
    for i in range(2 if step == STORE_CHAIN_CHECKPOINT else 1):
        store.commit(wid, wid, Batch(base + i, [_STORE_CHAIN_ENTRY]))
    if step + 1 < CHAIN_LENGTH:
        store_chain.send(run, n, step + 1, sent_at)
        return
    redis_client.hset(key(run, "finished"), str(n), repr(time.time()))


# -- B3: fan-out 1 -> n children started with wf.start_task, joined by one wf.wait ----------


@app.task
def b3_child(i: int, work_ms: float) -> int:
    """A fanned-out child; ``work_ms`` of sleep stands for I/O."""
    if work_ms:
        time.sleep(work_ms / 1000)
    return i


@app.task
def b3_parent(run: str, n: int, work_ms: float) -> int:
    """Start n children, wait for all of them once; counts its body runs and resumptions."""
    wf = b3_parent.wf
    count(run, "body_runs")
    handles = [wf.start_task(b3_child, i, work_ms) for i in range(n)]
    results = wf.wait(*handles)
    # Only reached once every child is done: must happen exactly once per workflow.
    count(run, "resumed")
    return sum(int(r.result) for r in results)


def count(run: str, name: str) -> None:
    """``INCR`` a raw counter of the run (body runs, passes past the join)."""
    redis_client.incr(key(run, name))


async_variants = declare_async(app, b2_step, b3_child, count)


@dramatiq.actor(broker=broker, actor_name="raw_fan_parent")
def raw_fan_parent(run: str, n: int, work_ms: float) -> None:
    """Send n child messages."""
    for i in range(n):
        raw_fan_child.send(run, n, i, work_ms)
    redis_client.set(key(run, "sent_all"), repr(time.time()))


@dramatiq.actor(broker=broker, actor_name="raw_fan_child")
def raw_fan_child(run: str, n: int, i: int, work_ms: float) -> None:
    """Count this child; the one that completes the count sends the join message."""
    if work_ms:
        time.sleep(work_ms / 1000)
    if redis_client.incr(key(run, "children")) == n:
        redis_client.set(key(run, "children_done"), repr(time.time()))
        raw_fan_join.send(run)


@dramatiq.actor(broker=broker, actor_name="raw_fan_join")
def raw_fan_join(run: str) -> None:
    """The join: record when it ran and how many times."""
    redis_client.incr(key(run, "joins"))
    redis_client.set(key(run, "finished"), repr(time.time()))


# -- B7: a signal's wake-up vs a raw hop vs polling a flag ----------------------------------


def _stamp(field: str, run: str, i: int) -> float:
    """The time now, also written to ``key(run, field)[i]`` for the client to read."""
    now = time.time()
    redis_client.hset(key(run, field), str(i), repr(now))
    return now


@app.task
def b7_waiter(run: str, n: int) -> int:
    """Waits for n signals "go" in turn; right after each, a recorded operation stamps the time.

    ``set_data("ready", i)`` is written by the wait's own commit (it registers the wait), so a
    client that reads it knows the wait is registered."""
    wf = b7_waiter.wf
    for i in range(n):
        wf.set_data("ready", i)
        wf.wait_signal("go")
        wf.deterministic("woke", lambda i=i: _stamp("woke", run, i))
    return n


def _flag_seen(run: str) -> float | None:
    """The time now if the client has set the run's flag (then also stamped), else None."""
    if not redis_client.exists(key(run, "flag")):
        return None
    return _stamp("seen", run, 0)


@app.task
def b7_poller(run: str, interval: float) -> int:
    """The workaround without signals: sleep ``interval``, check a flag, until it is set."""
    wf = b7_poller.wf
    polls = 0
    while wf.deterministic("check", lambda: _flag_seen(run)) is None:
        polls += 1
        if polls == 1:
            wf.set_data("polling", True)
        wf.sleep(interval)
    return polls


@dramatiq.actor(broker=broker, actor_name="b7_hop")
def b7_hop(run: str, i: int) -> None:
    """One raw Dramatiq hop: record when it was received."""
    _stamp("hop", run, i)


# -- B8: per-step overhead of wfcore.steps and wfcore.flow vs wf.execute_task -----------------

b8 = declare_styles(app)
