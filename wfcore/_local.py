"""``LocalRunner``: run workflows in this thread through the real engine (tests, scripts)."""

from __future__ import annotations

import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, Unpack, overload

from wfcore._codec import Codec
from wfcore._models import InvocationRef
from wfcore._tasks import Task, TaskSpec
from wfcore.engine import Engine, RunResult, RunStatus
from wfcore.errors import ConfigurationError
from wfcore.store import StateStore

if TYPE_CHECKING:
    from wfcore.schedules import ScheduleOptions

__all__ = ["LocalRunner"]

P = ParamSpec("P")
R = TypeVar("R")


class LocalRunner:
    """An in-process queue and worker in one: every message runs in the calling thread.

    The code path is the real one (engine, store, suspension, wake-ups), only the queue is a
    deque. Delayed wake-ups run in due order when the queue is otherwise empty, and the
    runner's clock jumps to them instead of waiting: a one-day ``wf.sleep`` takes no time.
    A task declared with ``max_retries`` is retried as the queue would (a failure that is
    not final is run again after its ``RetryableError`` delay, on this runner's clock).
    """

    def __init__(self, store: StateStore | None = None, *, codec: Codec | None = None) -> None:
        if store is None:
            from wfcore.store.memory import MemoryStore

            store = MemoryStore()
        self._specs: dict[str, TaskSpec] = {}
        self._max_retries: dict[str, int] = {}
        self._attempts: dict[InvocationRef, int] = {}
        self._queue: deque[InvocationRef] = deque()
        self._timers: list[tuple[float, int, InvocationRef]] = []
        self._order = itertools.count()
        self._offset = 0.0
        self.results: list[tuple[InvocationRef, RunResult]] = []
        self.engine = Engine(
            store=store, dispatcher=self, tasks=self._lookup, codec=codec, clock=self.now
        )
        self.store = store

    @overload
    def task(self, fn: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def task(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = None,
        force_new_workflow: bool = False,
        max_duration: float | None = None,
        workflow: bool | None = None,
        max_retries: int = 0,
    ) -> Callable[[Callable[P, R]], Task[P, R]]: ...

    def task(
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        force_new_workflow: bool = False,
        max_duration: float | None = None,
        workflow: bool | None = None,
        max_retries: int = 0,
    ) -> Any:
        """Declare a task (bare ``@runner.task`` or ``@runner.task(...)``); ``workflow``
        chooses, for an ``async def`` task, the deterministic loop (a workflow body) or a real
        event loop (a plain async task); by default ``force_new_workflow`` tasks are bodies.
        A failed run is retried up to ``max_retries`` times."""

        def declare(f: Callable[P, R]) -> Task[P, R]:
            task_name = name or f"{f.__module__}.{f.__qualname__}"
            spec = TaskSpec(task_name, f, force_new_workflow, max_duration, workflow)
            if spec.name in self._specs:
                raise ConfigurationError(f"a task named {spec.name!r} is already declared")
            self._specs[spec.name] = spec
            self._max_retries[spec.name] = max_retries
            return Task(spec)

        return declare if fn is None else declare(fn)

    # -- Dispatcher port -------------------------------------------------------------------

    def enqueue(self, ref: InvocationRef) -> None:
        """Queue the invocation to run next."""
        self._queue.append(ref)

    def wake(self, ref: InvocationRef, delay: float) -> None:
        """Queue the invocation to run after ``delay`` seconds of this runner's clock."""
        heapq.heappush(self._timers, (self.now() + max(0.0, delay), next(self._order), ref))

    def now(self) -> float:
        """This runner's clock: the real time plus however far it was moved forward."""
        return time.time() + self._offset

    def next_timer(self) -> float | None:
        """When the earliest delayed wake-up is due (this runner's clock), or None."""
        return self._timers[0][0] if self._timers else None

    def advance(self, seconds: float) -> None:
        """Move this runner's clock forward (timers become due without waiting)."""
        self._offset += seconds

    # -- driving -----------------------------------------------------------------------------

    def start(self, task: Task[..., Any], *args: Any, **kwargs: Any) -> str:
        """Start a workflow of ``task``; its id."""
        record, _ = self.engine.start(task.spec, args, kwargs)
        return record.workflow_id

    def schedule(self, task: Task[..., Any], **options: Unpack[ScheduleOptions]) -> str:
        """Start ``task`` on a schedule (``app.schedule``'s options: docs/operations.md); its
        ``schedule-<id>`` workflow id. Fire times follow this runner's clock."""
        from wfcore.schedules import create_schedule

        return create_schedule(self.engine, self._declare_scheduler, task.spec, **options)

    def _declare_scheduler(self, spec: TaskSpec) -> TaskSpec:
        return self._specs.setdefault(spec.name, spec)

    def signal(
        self, workflow_id: str, name: str, payload: Any = None, *, signal_id: str | None = None
    ) -> None:
        """Send signal ``name`` to a workflow (``Engine.signal``); a waiter it wakes is queued.

        Raises:
            WorkflowNotRunningError: the workflow has finished.
            WorkflowNotFoundError: there is no such workflow.
        """
        self.engine.signal(workflow_id, name, payload, signal_id=signal_id)

    def step(self) -> RunResult | None:
        """Run the next message (or the next due timer); None when there is nothing to run."""
        if not self._queue:
            if not self._timers:
                return None
            due, _, ref = heapq.heappop(self._timers)
            self._offset += max(0.0, due - self.now())  # jump to the timer instead of waiting
            self._queue.append(ref)
        ref = self._queue.popleft()
        attempt = self._attempts[ref] = self._attempts.get(ref, 0) + 1
        final = attempt > self._max_retries.get(ref.task_name, 0)
        result = self.engine.run(ref, final_attempt=final)
        if result.status is RunStatus.RETRY:
            self.wake(ref, result.retry_delay or 0.0)
        else:
            self._attempts.pop(ref, None)
        self.results.append((ref, result))
        return result

    def run_until_idle(self, *, max_messages: int = 100_000) -> int:
        """Process messages (and due timers) until none are left; how many ran."""
        for count in range(max_messages):
            if self.step() is None:
                return count
        raise RuntimeError(f"still busy after {max_messages} messages; a workflow loops?")

    def run_for(self, seconds: float, *, max_messages: int = 100_000) -> int:
        """Process messages and the timers due within the next ``seconds`` of this runner's
        clock, then move the clock to that point (for workflows that never end, such as
        schedules); how many ran."""
        until = self.now() + seconds
        for count in range(max_messages):
            if not self._queue and (not self._timers or self._timers[0][0] > until):
                self._offset += max(0.0, until - self.now())
                return count
            self.step()
        raise RuntimeError(f"still busy after {max_messages} messages; a workflow loops?")

    def run(self, task: Task[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Start a workflow, run everything, return its result (or raise its error)."""
        workflow_id = self.start(task, *args, **kwargs)
        self.run_until_idle()
        return self.engine.result(workflow_id)  # type: ignore[no-any-return]

    def _lookup(self, name: str) -> TaskSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise ConfigurationError(
                f"no task named {name!r} is declared on this runner; declare it with @runner.task"
            ) from None
