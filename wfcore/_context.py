"""The deterministic workflow context (``task.wf``) of the invocation running now."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from wfcore._children import TaskHandle, child_records, child_result
from wfcore._codec import Codec
from wfcore._dispatch import Dispatcher, Outbox
from wfcore._durations import fire_time, to_seconds
from wfcore._history import (
    Entry,
    Kind,
    decode_entry,
    describe,
    encode_entry,
    encode_lifecycle,
    is_operation,
)
from wfcore._identity import operation_seed
from wfcore._models import (
    Batch,
    CommitResult,
    InvocationRecord,
    InvocationRef,
    QueuePush,
    Snapshot,
    WorkflowIdentity,
    WorkflowRecord,
    WorkflowStatus,
)
from wfcore._tasks import TaskResult, TaskSpec, spec_of
from wfcore.errors import (
    ConfigurationError,
    NonDeterminismError,
    WorkflowCancelled,
)
from wfcore.store import StateStore

__all__ = ["Runtime", "WorkflowContext"]

T = TypeVar("T")
_ONE_MICROSECOND = timedelta(microseconds=1)
_TWO_POW_53 = float(1 << 53)


class _Suspend(BaseException):
    """Raised inside user code to stop the invocation until ``seqs`` have outcomes."""

    def __init__(self, seqs: Sequence[int], wake_at: float | None = None) -> None:
        super().__init__(tuple(seqs))
        self.seqs = tuple(seqs)
        self.wake_at = wake_at


class _Conflict(BaseException):
    """Another writer recorded this invocation's next position first: abort and replay."""


@dataclass(frozen=True, slots=True)
class Runtime:
    """What a context needs from its engine."""

    store: StateStore
    codec: Codec
    dispatcher: Dispatcher
    clock: Callable[[], float] = time.time
    outbox: Outbox | None = None


class _Deterministic:
    """``wf.deterministic``: callable, with Pynenc's ``_deterministic_operation`` alias."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: WorkflowContext) -> None:
        self._ctx = ctx

    def __call__(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return self._ctx._step(name, fn, args, kwargs)

    def _deterministic_operation(self, name: str, fn: Callable[..., T]) -> T:
        return self._ctx._step(name, fn, (), {})


class WorkflowContext:
    """Deterministic operations of one invocation; what ``task.wf`` returns.

    Every operation takes the next position (``seq``) in the invocation's history. On first
    execution its value is recorded; on replay the recorded value comes back and the
    operation's kind and name must match the recorded ones.
    """

    def __init__(self, runtime: Runtime, snapshot: Snapshot, *, strict: bool = False) -> None:
        self._rt = runtime
        self._strict = strict
        self._workflow_record: WorkflowRecord = snapshot.workflow
        self._invocation: InvocationRecord = snapshot.invocation
        raw = snapshot.entries
        # Lifecycle events live in the same list but take no seq: replay sees operations only.
        self._entries = [e for e in raw if is_operation(e)] if raw else raw
        self._outcomes = snapshot.outcomes
        self._seq = 0
        self._base = len(snapshot.entries)
        self._buffer: list[bytes] = []
        self._decoded: Entry | None = None  # the last entry _entry_at decoded
        self._data: dict[str, bytes] = {}  # set_data values for the next commit
        self._new_children: list[InvocationRecord] = []
        self._to_dispatch: list[InvocationRef] = []
        self._lifecycle("task_resumed" if raw else "task_started", None)
        self._last_now: datetime | None = None
        self._seed: bytes | None = None  # the PRNG key, made by the first draw that needs it
        self._fatal: BaseException | None = None
        self._where = (
            f"invocation {snapshot.invocation.invocation_id!r} "
            f"(task {snapshot.invocation.task_name!r}) of workflow "
            f"{snapshot.workflow.workflow_id!r}"
        )
        self._patches: dict[str, bool] = {}
        # Children started by cleanup code after a cancellation are shielded from it.
        self._cancel_pending = (
            snapshot.workflow.cancel_requested and not snapshot.invocation.cancel_shielded
        )
        self._cancel_delivered = False
        self._logger: _ReplayAwareLogger | None = None
        self.workflow: WorkflowIdentity = snapshot.workflow.identity

    @property
    def deterministic(self) -> _Deterministic:
        """``wf.deterministic(name, fn, *args, **kwargs)``: the inline, checkpointed step.

        Built on each access, so the context holds no reference back to itself: contexts are
        freed by reference counting when a run ends, not left to the garbage collector.
        """
        return _Deterministic(self)

    # -- identity ------------------------------------------------------------------------

    @property
    def invocation_id(self) -> str:
        """This invocation's id."""
        return self._invocation.invocation_id

    @property
    def task_name(self) -> str:
        """The running task's name."""
        return self._invocation.task_name

    @property
    def attempt(self) -> int:
        """How many times this invocation has been started (1 on the first run)."""
        return self._invocation.attempts

    def log_extra(self) -> dict[str, Any]:
        """The ``extra`` fields wfcore puts on log records about this invocation."""
        return {
            "workflow_id": self.workflow.workflow_id,
            "invocation_id": self.invocation_id,
            "task": self.task_name,
            "seq": self._seq,
            "attempt": self.attempt,
        }

    @property
    def is_replaying(self) -> bool:
        """True while the code re-executes operations already in the history."""
        return self._seq < len(self._entries)

    @property
    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger for workflow code that stays quiet while the code replays.

        Records carry ``workflow_id``, ``invocation_id``, ``task``, ``seq`` and ``attempt`` in
        ``extra``. Lines before the last recorded operation were logged by the first
        execution and are not repeated.
        """
        if self._logger is None:
            self._logger = _ReplayAwareLogger(self)
        return self._logger

    def patched(self, change_id: str) -> bool:
        """True on executions that may take the new branch of a code change.

        New executions record a marker and return True; replays of histories recorded before
        the change (no marker at this position) return False, so they keep the old branch.
        """
        if not isinstance(change_id, str) or not change_id:
            raise ConfigurationError(
                f"wf.patched needs a non-empty str change id, got {change_id!r}"
            )
        known = self._patches.get(change_id)
        if known is not None:
            return known
        self._check()
        seq = self._seq
        if seq < len(self._entries):
            entry = self._entry_at(seq)
            applied = entry.kind == Kind.PATCHED and entry.name == change_id
            if applied:
                self._seq = seq + 1
        else:
            if self._strict:
                self._beyond_history(describe(Kind.PATCHED, change_id))
            self._record(Kind.PATCHED, change_id, True)
            applied = True
        self._patches[change_id] = applied
        return applied

    # -- deterministic values ------------------------------------------------------------

    def random(self) -> float:
        """A float in [0, 1), recorded."""
        entry = self._replay(Kind.RANDOM, "")
        if entry is not None:
            return float(entry.value)
        value = (int.from_bytes(self._draw(0)[:8], "big") >> 11) / _TWO_POW_53
        return self._record(Kind.RANDOM, "", value)

    def randint(self, a: int, b: int) -> int:
        """An int N with a <= N <= b, recorded."""
        if type(a) is not int or type(b) is not int or a > b:
            raise ConfigurationError(f"wf.randint({a!r}, {b!r}) needs two ints with a <= b")
        entry = self._replay(Kind.RANDINT, "")
        if entry is not None:
            return int(entry.value)
        return self._record(Kind.RANDINT, "", a + self._below(b - a + 1))

    def choice(self, seq: Sequence[T]) -> T:
        """An element of a non-empty sequence; the chosen index is recorded."""
        if not isinstance(seq, Sequence) or not seq:
            raise ConfigurationError(
                f"wf.choice needs a non-empty list or tuple, got {type(seq).__name__} {seq!r:.40}"
            )
        entry = self._replay(Kind.CHOICE, "")
        if entry is not None:
            index = int(entry.value)
            if index >= len(seq):
                self._diverged(self._seq - 1, entry, f"choice() of {len(seq)} items")
            return seq[index]
        return seq[self._record(Kind.CHOICE, "", self._below(len(seq)))]

    def uuid(self) -> str:
        """An RFC 4122 version 4 UUID string, recorded."""
        entry = self._replay(Kind.UUID, "")
        if entry is not None:
            return str(entry.value)
        raw = bytearray(self._draw(0)[:16])
        raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
        raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
        h = raw.hex()
        return self._record(Kind.UUID, "", f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")

    def utc_now(self) -> datetime:
        """The tz-aware UTC time: real on first execution, strictly increasing, recorded."""
        entry = self._replay(Kind.UTC_NOW, "")
        if entry is not None:
            now: datetime = entry.value
        else:
            now = datetime.fromtimestamp(self._rt.clock(), UTC)
            if self._last_now is not None and now <= self._last_now:
                now = self._last_now + _ONE_MICROSECOND
            self._record(Kind.UTC_NOW, "", now)
        self._last_now = now
        return now

    # -- durable timers ----------------------------------------------------------------------

    def sleep(self, duration: float | timedelta | str) -> None:
        """Sleep durably: the invocation suspends (no worker held) and resumes after it.

        Args:
            duration: seconds, a ``timedelta``, or "90s", "5m", "2h", "1d", "1h30m".
        """
        seconds = to_seconds(duration)
        self._timer(lambda now: now + seconds)

    def sleep_until(self, when: datetime) -> None:
        """Sleep durably until a tz-aware ``datetime`` (naive ones are refused)."""
        fire_at = fire_time(when)
        self._timer(lambda now: fire_at)

    def _timer(self, fire_at_from: Callable[[float], float]) -> None:
        seq = self._seq
        entry = self._replay(Kind.SLEEP, "")
        fire_at = float(entry.value) if entry is not None else fire_at_from(self._rt.clock())
        if entry is None:
            self._record(Kind.SLEEP, "", fire_at)
        if seq not in self._outcomes:
            if self._strict or self._rt.clock() < fire_at:
                self._cancel_point()
                self._fatal = _Suspend([seq], wake_at=fire_at)
                raise self._fatal
            # Due: say so durably, so every later replay takes the same path.
            fired = self._rt.codec.encode([WorkflowStatus.COMPLETED.value, self._rt.clock()])
            self._rt.store.record_outcome(self.workflow.workflow_id, self.invocation_id, seq, fired)
            self._outcomes[seq] = fired
        fired_at = datetime.fromtimestamp(fire_at, UTC)
        if self._last_now is None or self._last_now < fired_at:
            self._last_now = fired_at  # utc_now() after the sleep is later than its fire time

    def _step(self, name: str, fn: Callable[..., T], args: Any, kwargs: Any) -> T:
        if not isinstance(name, str) or not name:
            raise ConfigurationError(
                f"wf.deterministic needs a non-empty str name first, got {name!r}"
            )
        if not callable(fn):
            raise ConfigurationError(f"wf.deterministic({name!r}, fn): fn must be callable")
        entry = self._replay(Kind.DETERMINISTIC, name)
        if entry is None:
            what = f"deterministic({name!r})"
            try:
                value: Any = fn(*args, **kwargs)
                ok = True
            except Exception as exc:
                value, ok = exc, False
            data = encode_entry(self._rt.codec, Kind.DETERMINISTIC, name, ok, value, what)
            # A step is a checkpoint: its result is durable before the code goes on.
            self._append(data)
            self._flush()
            if ok:
                return value  # type: ignore[no-any-return]
            # Raise what a replay would raise, so first run and replay behave alike.
            rebuilt = self._rt.codec.decode(data, what=what)[3]
            raise rebuilt from value
        if entry.ok:
            return entry.value  # type: ignore[no-any-return]
        raise entry.value

    # -- data ----------------------------------------------------------------------------

    def set_data(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` in the workflow's data (shared by its invocations)."""
        self._check_key("set_data", key)
        if self._replay(Kind.SET_DATA, key) is not None:
            return
        what = f"set_data({key!r})"
        encoded = self._rt.codec.encode(value, what=what)
        self._append(encode_entry(self._rt.codec, Kind.SET_DATA, key, True, value, what))
        # Written with the next commit, like the entry. Readers this code starts later (its
        # children) run after that commit; an invocation already running beside it could
        # have read the old value a moment earlier anyway. A crash before the commit loses
        # nothing the replay does not write again.
        self._data[key] = encoded

    def get_data(self, key: str, default: Any = None) -> Any:
        """The workflow data value under ``key``, or ``default``; what was read is recorded."""
        self._check_key("get_data", key)
        entry = self._replay(Kind.GET_DATA, key)
        if entry is not None:
            found, value = entry.value
            return value if found else default
        what = f"get_data({key!r})"
        raw = self._data.get(key)  # this run's own write, not committed yet
        if raw is None:
            raw = self._rt.store.read_data(self.workflow.workflow_id, key)
        value = None if raw is None else self._rt.codec.decode(raw, what=what)
        self._record(Kind.GET_DATA, key, [raw is not None, value])
        return value if raw is not None else default

    # -- children ------------------------------------------------------------------------

    def start_task(self, task: object, *args: Any, **kwargs: Any) -> TaskHandle:
        """Start a child invocation of ``task`` and return a handle without waiting.

        A task declared with ``force_new_workflow=True`` starts a child workflow; any other
        joins this workflow. Children are keyed by position: two identical calls are two
        children.
        """
        spec = spec_of(task)
        seq = self._seq
        entry = self._replay(Kind.START_TASK, spec.name)
        if entry is not None:
            inv_id, wf_id, wf_type, parent_wf, root_wf = entry.value
            identity = WorkflowIdentity(wf_id, wf_type, parent_wf, root_wf)
            return TaskHandle(self, seq, inv_id, spec.name, identity)
        return self._start_child(seq, spec, args, kwargs)

    def execute_task(self, task: object, *args: Any, **kwargs: Any) -> TaskResult:
        """Run ``task`` as a child and wait for it: ``start_task(...)`` then ``wait``.

        Raises:
            TaskFailedError: the child failed permanently.
        """
        return self.wait(self.start_task(task, *args, **kwargs))[0]

    def wait(self, *handles: TaskHandle) -> list[TaskResult]:
        """Wait for every handle; suspends once until all are done, then returns in order.

        Raises:
            TaskFailedError: one of the children failed permanently (the first in order).
        """
        self._check()
        for handle in handles:
            if not isinstance(handle, TaskHandle) or handle._ctx is not self:
                raise ConfigurationError(
                    "wf.wait takes handles returned by this invocation's start_task, "
                    f"got {handle!r}"
                )
        # A pending cancellation wins over results, even ones already there (children it
        # cancelled end CANCELLED): the workflow sees WorkflowCancelled, as it would have
        # had it suspended first.
        self._cancel_point()
        # Distinct: a store counts each awaited position once.
        missing = list(dict.fromkeys(h.seq for h in handles if h.seq not in self._outcomes))
        if missing:
            self._fatal = _Suspend(missing)
            raise self._fatal
        return [self._task_result(h) for h in handles]

    def _start_child(
        self, seq: int, spec: TaskSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> TaskHandle:
        rt = self._rt
        encoded_args = rt.codec.encode(
            [list(args), kwargs], what=f"arguments of task {spec.name!r}"
        )
        shielded = self._cancel_delivered or self._invocation.cancel_shielded
        child, workflow = child_records(
            self._invocation,
            self.workflow,
            seq,
            spec,
            encoded_args,
            now=rt.clock(),
            shielded=shielded,
        )
        identity = self.workflow if workflow is None else workflow.identity
        value = [child.invocation_id, *_identity_fields(identity)]
        self._append(
            encode_entry(
                rt.codec, Kind.START_TASK, spec.name, True, value, f"start_task({spec.name!r})"
            )
        )
        if workflow is not None:
            # Created before the parent records the start: a crash in between leaves an
            # unreferenced PENDING workflow (recovered or harmless), never a dangling start.
            rt.store.create_workflow(workflow, child)
        else:
            self._new_children.append(child)
        # Sent after the next commit (a wait's suspension, a step, completion) records the
        # start: back-to-back starts and execute_task cost one write, and no message can run
        # a child its parent has not recorded.
        self._to_dispatch.append(
            InvocationRef(identity.workflow_id, child.invocation_id, spec.name)
        )
        return TaskHandle(self, seq, child.invocation_id, spec.name, identity)

    def _task_result(self, handle: TaskHandle) -> TaskResult:
        return child_result(self._rt.codec, self._outcomes[handle.seq], handle)

    # -- recording machinery -------------------------------------------------------------

    def _check(self) -> None:
        if self._fatal is not None:
            raise self._fatal

    def _replay(self, kind: str, name: str) -> Entry | None:
        """The recorded entry at the next position if there is one; it must match."""
        if self._fatal is not None:
            raise self._fatal
        seq = self._seq
        if seq >= len(self._entries):
            if self._strict:
                self._beyond_history(describe(kind, name))
            if self._cancel_pending:
                self._deliver_cancel(record=True)
            return None
        entry = self._entry_at(seq)
        if entry.kind != kind or entry.name != name:
            if entry.kind == Kind.CANCELLED:
                self._seq = seq + 1
                self._deliver_cancel(record=False)
            self._diverged(seq, entry, describe(kind, name))
        self._seq = seq + 1
        return entry

    def _entry_at(self, seq: int) -> Entry:
        """The recorded entry at ``seq``, decoded once: ``wait`` looks at the entry the next
        operation then replays."""
        cached = self._decoded
        if cached is None or cached.seq != seq:
            cached = self._decoded = decode_entry(
                self._rt.codec, seq, self._entries[seq], self._where
            )
        return cached

    def _cancel_point(self) -> None:
        """Before suspending: deliver a cancellation recorded here, or one pending now."""
        seq = self._seq
        if seq < len(self._entries):
            entry = self._entry_at(seq)
            if entry.kind == Kind.CANCELLED:
                self._seq = seq + 1
                self._deliver_cancel(record=False)
        elif self._cancel_pending:
            self._deliver_cancel(record=True)

    def _deliver_cancel(self, *, record: bool) -> None:
        """Raise ``WorkflowCancelled`` here; recorded, so every replay raises it here too."""
        if record:
            self._record(Kind.CANCELLED, "", None)
        self._cancel_pending = False
        self._cancel_delivered = True
        raise WorkflowCancelled(self.workflow.workflow_id)

    def _diverged(self, seq: int, entry: Entry, attempted: str) -> None:
        recorded = entry.describe()
        self._fatal = NonDeterminismError(
            f"{self._where}: seq {seq} recorded `{recorded}`, the code now calls `{attempted}`; "
            "the workflow code changed in a way that breaks running workflows. Guard the change "
            "with wf.patched(...) or keep the old code until they finish",
            workflow_id=self.workflow.workflow_id,
            invocation_id=self.invocation_id,
            seq=seq,
            recorded=recorded,
            attempted=attempted,
        )
        raise self._fatal

    def _lifecycle(self, kind: str, detail: Any) -> None:
        """Add a lifecycle event to the next commit (it takes no seq)."""
        codec = self._rt.codec
        self._buffer.append(encode_lifecycle(codec, kind, detail, self._invocation.attempts))

    def _beyond_history(self, attempted: str) -> None:
        """Strict replay: the code calls an operation the history never recorded."""
        seq = self._seq
        self._fatal = NonDeterminismError(
            f"{self._where}: the history ends at seq {seq}, the code now calls `{attempted}` "
            "there; the workflow code changed. Guard the change with wf.patched(...)",
            workflow_id=self.workflow.workflow_id,
            invocation_id=self.invocation_id,
            seq=seq,
            recorded="end of history",
            attempted=attempted,
        )
        raise self._fatal

    def _record(self, kind: str, name: str, value: T) -> T:
        # Buffered: written with the next boundary, before anyone else can observe it.
        self._buffer.append(
            encode_entry(self._rt.codec, kind, name, True, value, describe(kind, name))
        )
        self._seq += 1
        return value

    def _append(self, data: bytes) -> None:
        self._buffer.append(data)
        self._seq += 1

    def _flush(self, **changes: Any) -> CommitResult:
        """Commit now (a boundary); another writer having won aborts this run to replay."""
        result = self._commit(**changes)
        if not result.ok:
            self._fatal = _Conflict()
            raise self._fatal
        return result

    def _commit(self, **changes: Any) -> CommitResult:
        """Write buffered entries and new children (plus ``changes``) in one atomic commit,
        then send the children it recorded. Nothing is sent if another writer won."""
        outbox = self._rt.outbox
        pushes: tuple[QueuePush, ...] = ()
        if outbox is not None and self._to_dispatch:
            pushes = tuple(outbox.prepare(ref) for ref in self._to_dispatch)
        batch = Batch(
            self._base,
            self._buffer,
            self._data,
            children=self._new_children,
            pushes=pushes,
            **changes,
        )
        result = self._rt.store.commit(self.workflow.workflow_id, self.invocation_id, batch)
        if not result.ok:
            return result
        self._data = {}
        to_dispatch, self._to_dispatch = self._to_dispatch, []
        if result.cancel_requested and not (
            self._cancel_delivered or self._invocation.cancel_shielded
        ):
            self._cancel_pending = True
            # A cancel that walked this workflow's children before these child workflows
            # existed did not reach them; its flag, seen here, must.
            for ref in to_dispatch:
                if ref.workflow_id != self.workflow.workflow_id:
                    self._rt.store.request_cancel(ref.workflow_id)
        self._base += len(self._buffer)
        self._buffer = []
        self._new_children = []
        if result.pushed and outbox is not None:
            for push in pushes:
                outbox.pushed(push)
        else:
            for ref in to_dispatch:
                self._rt.dispatcher.enqueue(ref)
        return result

    def _leftover(self) -> NonDeterminismError | None:
        """Recorded operations the code no longer reached (deleted or reordered away)."""
        if self._seq >= len(self._entries):
            return None
        entry = self._entry_at(self._seq)
        return NonDeterminismError(
            f"{self._where}: the code finished at seq {self._seq} but the history records "
            f"`{entry.describe()}` there ({len(self._entries)} operations in all); operations "
            "were removed from the workflow code. Guard the change with wf.patched(...) or keep "
            "the old code until running workflows finish",
            workflow_id=self.workflow.workflow_id,
            invocation_id=self.invocation_id,
            seq=self._seq,
            recorded=entry.describe(),
            attempted="end of code",
        )

    def _draw(self, counter: int) -> bytes:
        seed = self._seed
        if seed is None:
            seed = self._seed = operation_seed(self.workflow.workflow_id, self.invocation_id)
        position = self._seq.to_bytes(8, "big") + counter.to_bytes(4, "big")
        return hashlib.blake2b(position, key=seed, digest_size=32).digest()

    def _below(self, n: int) -> int:
        """An unbiased int in [0, n) from this position's PRNG stream (rejection sampling)."""
        bits = max(1, (n - 1).bit_length())
        counter = 0
        while True:
            candidate = int.from_bytes(self._draw(counter), "big") >> (256 - bits)
            if candidate < n:
                return candidate
            counter += 1

    def _check_key(self, op: str, key: object) -> None:
        if not isinstance(key, str):
            raise ConfigurationError(
                f"wf.{op} keys must be str, got {type(key).__name__} {key!r:.40}; "
                "convert the key with str() or use a fixed name"
            )


def _identity_fields(identity: WorkflowIdentity) -> list[str | None]:
    return [
        identity.workflow_id,
        identity.workflow_type,
        identity.parent_workflow_id,
        identity.root_workflow_id,
    ]


class _ReplayAwareLogger(logging.LoggerAdapter[logging.Logger]):
    """Drops records while its invocation replays; adds the invocation's ids to ``extra``."""

    def __init__(self, ctx: WorkflowContext) -> None:
        super().__init__(logging.getLogger(f"wfcore.task.{ctx.task_name}"), {})
        self._ctx = ctx

    def isEnabledFor(self, level: int) -> bool:
        return not self._ctx.is_replaying and self.logger.isEnabledFor(level)

    def process(self, msg: object, kwargs: Any) -> tuple[object, Any]:
        ctx = self._ctx
        kwargs["extra"] = {
            **ctx.log_extra(),
            **(kwargs.get("extra") or {}),
        }
        return msg, kwargs
