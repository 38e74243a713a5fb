"""Idle points of an async workflow body: what the deterministic loop delivers, recorded.

When every task of an async body waits, the loop is idle. What happens there is part of the
history, so every replay wakes the same tasks at the same point:

- one wait alone (the common case) with its outcomes there is delivered, recording nothing,
  as a sync wait returns: every replay finds its outcomes there again (a resume that forgot
  one makes it wait again, as a sync wait);
- among several waits, a live run delivers every one whose outcomes are all recorded (and
  every due timer) at once and records ``resumed('several', [seqs])`` (buffered, no extra
  round trip); a replay meeting that entry delivers exactly the waits it names. (Earlier
  versions recorded ``resumed('', [seqs])`` for a wait alone too: replayed the same way.)
- a requested cancellation is recorded (``cancelled()``) and raises ``WorkflowCancelled``
  in every waiting task, at its await;
- otherwise the invocation suspends on the union of the awaited seqs. The store wakes it
  when the outcomes of *some* wait could all be there: after ``need`` arrivals, ``need``
  being the fewest outcomes any one wait still misses (1 for ``gather`` over single
  children, all N for one ``await wf.wait(h1, ..., hN)``). Outcomes that arrive together
  are delivered by one resumed run; one that arrives later costs another replay.
"""

from __future__ import annotations

import inspect
import weakref
from typing import Any

from wfcore._history import CANCELLED_PREFIX, Entry, Kind, entry_prefix
from wfcore._tasks import Body, TaskSpec
from wfcore.context.aio_loop import DeterministicLoop, Wait, new_loop
from wfcore.context.aio_refusals import refuse_waits
from wfcore.context.replaying import Replaying
from wfcore.context.runtime import _Suspend
from wfcore.context.wall_clock import guard_module
from wfcore.errors import ConfigurationError, DecodeError, WorkflowCancelled

__all__ = ["Awaiting", "call_body", "run_async"]

# Body functions whose module ``guard_module`` has seen: checked once per function, not per run.
_guarded_bodies: weakref.WeakSet[Any] = weakref.WeakSet()


class Awaiting(Replaying):
    """Decides, at each idle point of an async body, what its waiting tasks get."""

    def _loop(self) -> DeterministicLoop:
        aio = self._aio
        if aio.__class__ is not DeterministicLoop:
            aio.check()  # a plain async task's stand-in refuses with what to do instead
        return aio  # type: ignore[no-any-return]

    def _refused(self, error: ConfigurationError) -> None:
        if self._fatal is None:
            self._fatal = error

    def _idle_point(self, waits: list[Wait]) -> None:
        loop = self._loop()
        if not waits:
            self._fatal = ConfigurationError(
                f"{self._where}: every task of the async body waits, but on nothing a wf "
                "operation resolves (an asyncio future or event no one sets, or a task "
                "awaiting itself): in a workflow body, wait only on wf waits and on tasks "
                "and futures made from them"
            )
            return
        if len(waits) == 1 and self._delivers_now(waits[0]):
            # One wait with its outcomes: delivered here, recording nothing, as a sync wait
            # returns (replayed, its outcomes are there again; forgotten by a resume, it waits).
            self._deliver(loop, waits)
            return
        seq = self._seq
        entries = self._entries
        live = seq >= len(entries)
        if not live:
            data = entries[seq]
            if data.startswith(CANCELLED_PREFIX):
                self._seq = seq + 1
                self._cancel_waits(loop, waits)
                return
            if len(waits) > 1 or data.startswith(_RESUMED_ALONE):
                # Several waits: the history names those delivered here (histories of
                # earlier versions name a wait delivered alone too).
                entry = self._entry_at(seq)
                if entry.kind != Kind.RESUMED:
                    self._diverged(seq, entry, "a wait (every task of the async body waits)")
                self._replay_resumed(loop, waits, entry)
                return
        elif self._cancel_pending and not self._strict:
            for wait in waits:
                if wait.on_cancel is not None:
                    wait.on_cancel()
            self._record(Kind.CANCELLED, "", None)
            self._cancel_waits(loop, waits)
            return
        if live and not self._strict:
            ready = self._ready_now(waits)
            if ready:
                if len(waits) > 1:  # which waits got their outcomes first: every replay the same
                    delivered = sorted({s for w in ready for s in w.seqs})
                    self._record(Kind.RESUMED, SEVERAL, delivered)
                self._deliver(loop, ready)
                return
        self._suspend_on(waits)

    def _replay_resumed(self, loop: DeterministicLoop, waits: list[Wait], entry: Entry) -> None:
        """A recorded ``resumed(seqs)``: deliver exactly the waits it names."""
        value = entry.value
        if type(value) is not list or any(type(s) is not int for s in value):
            raise DecodeError(
                f"{self._where}: history entry {entry.seq} (resumed) names {value!r}, not a "
                "list of positions; the stored history is corrupt (restore it from a backup or "
                "cancel this workflow)"
            )
        got = frozenset(value)
        ready = [w for w in waits if got.issuperset(w.seqs)]
        delivered = frozenset(s for w in ready for s in w.seqs)
        if delivered != got or any(s not in self._outcomes for s in got):
            self._diverged(entry.seq, entry, f"{Kind.RESUMED}({sorted(delivered)})")
        self._seq = entry.seq + 1
        self._deliver(loop, ready)

    def _delivers_now(self, wait: Wait) -> bool:
        """``wait`` is the only one: does an idle point now deliver it, recording nothing? Yes
        if its outcomes are there, unless a cancellation is recorded here or pending (or, in a
        history of an earlier version, a ``resumed`` entry of this wait alone is here)."""
        if not _has_outcomes(wait, self._outcomes) or self._fatal is not None:
            return False
        seq = self._seq
        entries = self._entries
        if seq < len(entries):
            data = entries[seq]
            return not (data.startswith(CANCELLED_PREFIX) or data.startswith(_RESUMED_ALONE))
        return self._strict or not self._cancel_pending

    def _ready_now(self, waits: list[Wait]) -> list[Wait]:
        """A live run's deliverable waits: outcomes all there, or a due timer (completed
        durably here first, so every replay takes the same path)."""
        outcomes = self._outcomes
        now = None  # read once, only if a timer is waited on
        ready = []
        for wait in waits:
            if _has_outcomes(wait, outcomes):
                ready.append(wait)
            elif wait.fire_at is not None and wait.on_due is not None:
                if now is None:
                    now = self._rt.clock()
                if now >= wait.fire_at:
                    wait.on_due()
                    ready.append(wait)
        return ready

    def _deliver(self, loop: DeterministicLoop, ready: list[Wait]) -> None:
        if len(ready) == 1:  # the common case: one wait, nothing to order
            self._waited(ready[0].seqs)
            loop.deliver(ready[0])
            return
        self._waited(s for w in ready for s in w.seqs)
        for wait in sorted(ready, key=lambda w: w.seqs):
            loop.deliver(wait)

    def _cancel_waits(self, loop: DeterministicLoop, waits: list[Wait]) -> None:
        self._cancel_pending = False
        self._cancel_delivered = True
        for wait in waits:
            loop.fail(wait, WorkflowCancelled(self.workflow.workflow_id))

    def _suspend_on(self, waits: list[Wait]) -> None:
        outcomes = self._outcomes
        if len(waits) == 1:  # the common case: woken when all its missing outcomes are in
            wait = waits[0]
            missing = [s for s in wait.seqs if s not in outcomes]  # sorted, as its seqs
            self._fatal = _Suspend(missing, wake_at=wait.fire_at, need=len(missing))
            return
        seqs = sorted({s for w in waits for s in w.seqs if s not in outcomes})
        times = [w.fire_at for w in waits if w.fire_at is not None]
        # The fewest arrivals after which some wait could have all its outcomes.
        counted = [sum(s not in outcomes for s in w.seqs) for w in waits if w.counts]
        need = min([c for c in counted if c > 0], default=len(seqs))
        self._fatal = _Suspend(seqs, wake_at=min(times) if times else None, need=need)


def _has_outcomes(wait: Wait, outcomes: dict[int, bytes]) -> bool:
    seqs = wait.seqs
    return seqs[0] in outcomes if len(seqs) == 1 else all(s in outcomes for s in seqs)


# The name of the ``resumed`` entry an idle point of several waits records.
SEVERAL = "several"
# How the ``resumed`` entry of a wait delivered alone starts (recorded by earlier versions).
_RESUMED_ALONE = entry_prefix(Kind.RESUMED, "")


def call_body(ctx: Awaiting, spec: TaskSpec, args: Any, kwargs: Any) -> Any:
    """Run a task's function for ``ctx``, sync or async (verification, repair checks)."""
    if spec.body is Body.SYNC:
        return spec.fn(*args, **kwargs)
    return run_async(ctx, spec, args, kwargs)


def run_async(ctx: Awaiting, spec: TaskSpec, args: Any, kwargs: Any) -> Any:
    """Run an ``async def`` task's function for ``ctx``: a workflow body on a deterministic
    loop, a plain async task on a real event loop (``Runtime.run_coroutine``)."""
    if spec.body is Body.PLAIN_ASYNC:
        ctx._aio = refuse_waits(spec.name)
        try:
            return ctx._rt.run_coroutine(spec.fn(*args, **kwargs))
        finally:
            ctx._aio = None
    fn = spec.fn
    if fn not in _guarded_bodies:  # its module's datetime.now() & co. are refused (once)
        namespace = getattr(inspect.unwrap(fn), "__globals__", None)
        if namespace is not None:
            guard_module(namespace)
        _guarded_bodies.add(fn)
    loop = new_loop(ctx, ctx._call_later_timer)  # type: ignore[attr-defined]
    ctx._aio = loop
    try:
        return loop.run_body(spec.fn(*args, **kwargs))
    finally:
        ctx._aio = None
