"""``App`` and ``@app.task``: workflow tasks as real Dramatiq actors."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, Unpack, overload

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Retries
from dramatiq.middleware.retries import DEFAULT_MAX_BACKOFF

from wfcore import (
    Codec,
    Engine,
    InvocationRef,
    Replayer,
    ReplayResult,
    RunResult,
    RunStatus,
    StateStore,
    TaskSpec,
    open_store,
)
from wfcore._durations import deadline_after
from wfcore._tasks import Body
from wfcore.errors import ConfigurationError, FatalError
from wfcore_dramatiq._asyncio import ensure_asyncio, run_coroutine
from wfcore_dramatiq._compat import check_dramatiq_version
from wfcore_dramatiq._dispatch import (
    DramatiqDispatcher,
    mark_task_actor,
    ref_from_options,
    remaining_delay,
)
from wfcore_dramatiq._embedded import EmbeddedWorker
from wfcore_dramatiq._global_broker import adopt_as_global
from wfcore_dramatiq._handle import FinishedSignal, WorkflowHandle
from wfcore_dramatiq._messages import Replies, raw_workflow_id
from wfcore_dramatiq._middleware import OPTION, WorkflowMiddleware
from wfcore_dramatiq._outbox import outbox_for
from wfcore_dramatiq._plain_actors import PlainActorOutcomes, PlainActors
from wfcore_dramatiq._pyworkflow import PyWorkflowMethods
from wfcore_dramatiq._recovery import RecoverySweeper
from wfcore_dramatiq._repairs import Repairs
from wfcore_dramatiq._task import DramatiqTask

if TYPE_CHECKING:
    from wfcore.schedules import ScheduleOptions

__all__ = ["App", "DramatiqTask", "PermanentFailure"]

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_STORE_URL = "sqlite:///wfcore.sqlite3"
_ENDED = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.SKIPPED)


class PermanentFailure(FatalError):
    """Raised to Dramatiq when an invocation failed for good (listed in ``throws``)."""


class App(Repairs, PyWorkflowMethods):
    """Durable workflows on one Dramatiq broker and one state store.

    ``App()`` alone is the embedded default: an in-process ``StubBroker`` with worker threads
    started on first use (anything that sends, waits for or recovers work starts them, with
    the recovery sweep), and a SQLite store (``./wfcore.sqlite3`` or ``WFCORE_STORE_URL``).
    Pass ``broker=`` and ``store=`` to run on Redis/RabbitMQ with ``dramatiq`` workers: that
    broker becomes Dramatiq's global broker unless another one is already (then a warning is
    logged naming both), so ``dramatiq myapp`` and ``dramatiq myapp:broker`` both run the App.
    Actors declared on the broker before the App are fine.

    Args:
        broker: the Dramatiq broker; None for the embedded StubBroker with worker threads.
        store: a ``StateStore`` or a store URL (``memory://``, ``sqlite:///path``,
            ``redis://...``, ``postgresql://...``).
        codec: the value codec (register pydantic models and exceptions on it).
        retention: seconds finished workflows are kept (None: forever).
        worker_threads: threads of the embedded worker.
        recovery_interval: seconds between recovery sweeps in each worker (0 disables).
        stale_after: how long an unfinished invocation may sit without progress (and, while
            it runs, without its worker marking it alive: a heartbeat thread does every
            ``stale_after / 4`` s) before a sweep re-enqueues it; longer than
            ``recovery_interval``.
        enqueue_in_commit: with a ``RedisBroker`` on the same Redis server, database and
            user as a ``RedisStore``, the messages that start workflows, run new children,
            wake parents and wake sleeping invocations are written by the store's write
            that records them (one round trip less per message, and never recorded state
            without its message). False sends every message with ``broker.enqueue`` after
            the write. Ignored for other pairs.
        clock: the engine's clock (epoch seconds): timers, deadlines, sweeps; tests pass
            one they move forward (a one-day sleep then ends when the test says so).

    Raises:
        ConfigurationError: ``stale_after`` is not longer than ``recovery_interval``; the
            broker already serves another App; the installed Dramatiq is not a supported
            version, or (with ``enqueue_in_commit``) its RedisBroker stores messages otherwise.
    """

    def __init__(
        self,
        broker: dramatiq.Broker | None = None,
        store: StateStore | str | None = None,
        *,
        codec: Codec | None = None,
        retention: float | None = None,
        worker_threads: int = 8,
        recovery_interval: float = 30.0,
        stale_after: float = 60.0,
        enqueue_in_commit: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        check_dramatiq_version()
        self.embedded = broker is None
        self.broker: dramatiq.Broker = StubBroker() if broker is None else broker
        if any(isinstance(m, WorkflowMiddleware) for m in self.broker.middleware):
            raise ConfigurationError(
                "this broker already has a WorkflowMiddleware (another App uses it); "
                "give each App its own broker"
            )
        if recovery_interval > 0 and not stale_after > recovery_interval:
            raise ConfigurationError(
                f"stale_after ({stale_after!r} s) must be longer than recovery_interval "
                f"({recovery_interval!r} s): workers mark what they run as alive once per "
                "interval, so a shorter stale_after would have running invocations re-sent"
            )
        if store is None:
            store = os.environ.get("WFCORE_STORE_URL") or DEFAULT_STORE_URL
        self.store: StateStore = (
            open_store(store, retention=retention) if isinstance(store, str) else store
        )
        self.middleware = WorkflowMiddleware(
            RecoverySweeper(self._sweep, recovery_interval), is_task=self._is_task
        )
        try:
            outbox = (
                outbox_for(self.broker, self.store, self.middleware.current_message)
                if enqueue_in_commit
                else None
            )
        except ConfigurationError:
            if isinstance(store, str):
                self.store.close()  # opened here: nothing of a refused App stays open
            raise
        self.stale_after = stale_after
        self.broker.add_middleware(self.middleware)
        self._specs: dict[str, TaskSpec] = {}
        self._plain = PlainActors(self.broker, lambda: self.engine, self._specs.get)
        self.engine = Engine(
            store=self.store,
            dispatcher=DramatiqDispatcher(self.broker),
            tasks=self._spec,
            codec=codec,
            clock=clock,
            outbox=outbox,
            heartbeat_interval=stale_after / 4,  # runs marked alive well within stale_after
            resolve_task=self._plain.resolve,
            run_coroutine=run_coroutine,
        )
        # After Retries' hooks (Dramatiq runs after_* hooks last-added first): a plain
        # actor's failed message is then known to be final or retried.
        retries = Retries if any(isinstance(m, Retries) for m in self.broker.middleware) else None
        outcomes = PlainActorOutcomes(lambda: self.engine, self.broker)
        self.broker.add_middleware(outcomes, before=retries)
        self._replies = Replies(self.broker, self.engine)
        self._finished = FinishedSignal()
        self._worker = EmbeddedWorker(self.broker, worker_threads) if self.embedded else None
        if outbox is not None:
            outbox.skip_acknowledged()
        if not self.embedded:
            adopt_as_global(self.broker)  # last: a failed construction changes nothing global

    # -- declaring -------------------------------------------------------------------------

    @overload
    def task(self, fn: Callable[P, R], /) -> DramatiqTask[P, R]: ...

    @overload
    def task(
        self,
        fn: None = None,
        /,
        *,
        force_new_workflow: bool = False,
        workflow: bool | None = None,
        actor_name: str | None = None,
        queue_name: str = "default",
        **options: Any,
    ) -> Callable[[Callable[P, R]], DramatiqTask[P, R]]: ...

    def task(
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        force_new_workflow: bool = False,
        workflow: bool | None = None,
        actor_name: str | None = None,
        queue_name: str = "default",
        **options: Any,
    ) -> Any:
        """Declare a workflow task; Dramatiq actor options (``max_retries``, ``time_limit``,
        ``min_backoff``, ``queue_name``, ...) pass through to the actor.

        Args:
            fn: the function (bare ``@app.task``).
            force_new_workflow: started as a child, it begins a child workflow of its own.
            workflow: for an ``async def`` task: True runs it as a workflow body on wfcore's
                deterministic event loop (awaitable wf waits, no real I/O), False as a plain
                async task on Dramatiq's AsyncIO event loop (real I/O, no wf waits); by
                default ``force_new_workflow`` async tasks are workflow bodies (docs/async.md).
            actor_name: the actor (and task) name; the function's name by default.
            queue_name: the Dramatiq queue.
            **options: other Dramatiq actor options.
        """

        def declare(f: Callable[P, R]) -> DramatiqTask[P, R]:
            options["workflow"] = workflow
            return self._declare(f, force_new_workflow, actor_name, queue_name, options)

        return declare if fn is None else declare(fn)

    def _declare(
        self,
        fn: Callable[P, R],
        force_new_workflow: bool,
        actor_name: str | None,
        queue_name: str,
        options: dict[str, Any],
    ) -> DramatiqTask[P, R]:
        if not callable(fn):
            raise ConfigurationError(f"@app.task decorates functions, got {fn!r}")
        name = actor_name or fn.__name__
        if name in self._specs:
            raise ConfigurationError(
                f"a task named {name!r} is already declared on this App; "
                "pass actor_name= to give one of them another name"
            )
        max_duration = options.pop("max_duration", None)
        deadline_after(0.0, max_duration)  # validates it now, at declaration
        spec = TaskSpec(name, fn, force_new_workflow, max_duration, options.pop("workflow", None))
        if spec.body is Body.PLAIN_ASYNC:
            ensure_asyncio(self.broker)  # its coroutine runs on the AsyncIO middleware's loop

        def run_message(*args: Any, **kwargs: Any) -> None:
            self._run_message(spec, args, kwargs)

        run_message.__name__ = name
        run_message.__qualname__ = getattr(fn, "__qualname__", name)
        run_message.__module__ = fn.__module__
        mark_task_actor(run_message)
        throws = options.pop("throws", ())
        throws = (throws,) if isinstance(throws, type) else tuple(throws)
        try:
            actor = dramatiq.actor(
                broker=self.broker,
                actor_name=name,
                queue_name=queue_name,
                throws=(PermanentFailure, *throws),
                **options,
            )(run_message)
        except ValueError as exc:
            raise ConfigurationError(f"cannot declare task {name!r}: {exc}") from exc
        self._specs[name] = spec
        return DramatiqTask(self, spec, actor)

    def schedule(self, task: DramatiqTask[..., Any], **options: Unpack[ScheduleOptions]) -> str:
        """Start ``task``'s workflow on a cron expression (UTC, ``cron="*/5 * * * *"``) or
        interval (``every="10m"``), stored durably as workflow ``schedule-<schedule_id>``
        (default id: the task's name); its id.

        Call it where the tasks are declared, so every worker can run the schedule: any
        worker fires it and each fire time starts exactly one workflow. ``overlap`` says what
        a fire does while the previous one's workflow runs ("skip", "buffer_one": one waits,
        "allow"); fire times missed while no worker ran are started on recovery if within
        ``catchup_window`` (default "1h"). ``args``/``kwargs`` go to the task. The same call
        again returns the same schedule (see docs/operations.md).

        Raises:
            ConfigurationError: a bad definition, croniter missing for ``cron=``, or a
                schedule of this id already exists with another definition.
        """
        from wfcore.schedules import create_schedule

        self.start_worker()  # as sending does: an embedded App's schedule runs here
        return create_schedule(self.engine, self._declare_scheduler, task.spec, **options)

    def _declare_scheduler(self, spec: TaskSpec) -> TaskSpec:
        if spec.name not in self._specs:
            self._declare(spec.fn, False, spec.name, "default", {})
        return self._specs[spec.name]

    def verify_replay(self, workflow_id: str) -> ReplayResult:
        """Replay a finished or suspended workflow strictly against the current code.

        No writes, no dispatch; child results come from the history. The result names the
        first divergence, if any.
        """
        replayer = Replayer(self._spec, codec=self.engine.codec, resolve=self._plain.resolve)
        return replayer.replay(self.store, workflow_id)

    def recover(self) -> list[InvocationRef]:
        """Run the recovery sweep once: re-enqueue invocations with no live message.

        Workers run it when they boot and every ``recovery_interval`` seconds on their own;
        invocations idle for ``stale_after`` seconds that can make progress (pending,
        running, or suspended with what they wait for done) get a fresh message. The
        embedded App starts its worker first, so the messages are read.
        """
        self.start_worker()
        return self.engine.recover(stale_after=self.stale_after)

    def _sweep(self) -> None:
        """What each worker's recovery thread does at boot and every ``recovery_interval``."""
        self.engine.heartbeat()
        self.engine.recover(stale_after=self.stale_after)
        self.store.purge_expired(time.time())  # retention=: finished workflows past it go

    def register_type(self, cls: type) -> None:
        """Allow values of a pydantic model or exception class to be decoded from storage."""
        self.engine.codec.register(cls)

    # -- client side -----------------------------------------------------------------------

    def handle(self, workflow_id: str) -> WorkflowHandle[Any]:
        """A handle to an existing workflow.

        Raises:
            WorkflowNotFoundError: there is no such workflow.
        """
        self.engine.workflow(workflow_id)
        return WorkflowHandle(self, workflow_id)

    def signal(
        self, workflow_id: str, name: str, payload: Any = None, *, signal_id: str | None = None
    ) -> None:
        """Send signal ``name`` to a workflow; ``handle(workflow_id).signal(...)`` (see there)."""
        WorkflowHandle(self, workflow_id).signal(name, payload, signal_id=signal_id)

    @overload
    def run(
        self, task: DramatiqTask[P, Coroutine[Any, Any, R]], *args: P.args, **kwargs: P.kwargs
    ) -> R: ...

    @overload
    def run(self, task: DramatiqTask[P, R], *args: P.args, **kwargs: P.kwargs) -> R: ...

    def run(self, task: DramatiqTask[P, Any], *args: P.args, **kwargs: P.kwargs) -> Any:
        """Start a workflow and wait for its result (``send`` + ``result``)."""
        handle = task.send_with_options(args=args, kwargs=kwargs)
        return handle.result()

    def close(self) -> None:
        """Stop the embedded worker (if any) and close the store."""
        if self._worker is not None:
            self._worker.stop()
        self.store.close()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- worker side -----------------------------------------------------------------------

    def start_worker(self) -> None:
        """Start the embedded worker threads and this process's recovery sweep, if not yet.

        Sending, ``handle.result()``, ``handle.cancel()``, ``recover()`` and ``run()`` call
        it; reading (``handle.status()``, ``history()``, ``children()``, ``export_history()``)
        does not, so inspecting never runs task code. A no-op for an App on a broker (its
        workers are ``dramatiq`` processes). ``wfcore worker --app MODULE:APP`` runs it in
        the foreground.
        """
        if self._worker is not None:
            self._worker.start()

    def _is_task(self, name: str) -> bool:
        return name in self._specs

    def _spec(self, name: str) -> TaskSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise ConfigurationError(
                f"no task named {name!r} is declared on this App; the worker must import the "
                "module that declares it"
            ) from None

    def _run_message(self, spec: TaskSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        message = self.middleware.current_message()
        options: dict[str, Any] = {} if message is None else message.options
        ref = ref_from_options(options, spec.name)
        if ref is None:
            # A plain Dramatiq send of the actor (task.message() in a group or pipeline):
            # start it as a workflow, named after the message so a redelivery does not start
            # a second one; its result waits for the workflow's end.
            message_id = "local" if message is None else message.message_id
            workflow_id = raw_workflow_id(message_id)
            self.engine.start(spec, args, kwargs, workflow_id=workflow_id)
            if message is not None:
                self._replies.defer(message, workflow_id)
            return
        left = remaining_delay(options)
        if left > 0:
            self.engine.dispatcher.wake(ref, left)  # a long delay's next hop: not yet
            return
        final = self._final_attempt(spec.name, options)
        result = self.engine.run(ref, final_attempt=final, carried=options.get(OPTION))
        if result.status in _ENDED:
            if result.status is not RunStatus.SKIPPED:
                self._finished.notify()
            self._replies.finished(ref)  # a redelivery (SKIPPED) gives the reply again
        self._raise_for_dramatiq(ref, options, result)

    def _final_attempt(self, name: str, options: dict[str, Any]) -> bool:
        retries = int(options.get("retries", 0))
        actor_options = self.broker.get_actor(name).options
        retries_middleware = self._retries()
        if _retry_when(actor_options, retries_middleware) is not None:
            return False  # decided after the run, from the error
        default = 0 if retries_middleware is None else retries_middleware.max_retries
        max_retries = options.get("max_retries", actor_options.get("max_retries", default))
        return max_retries is not None and retries >= max_retries

    def _retries(self) -> Retries | None:
        """The broker's (last) ``Retries`` middleware, which decides how Dramatiq retries."""
        found = None
        for middleware in self.broker.middleware:
            if isinstance(middleware, Retries):
                found = middleware
        return found

    def _raise_for_dramatiq(
        self, ref: InvocationRef, options: dict[str, Any], result: RunResult
    ) -> None:
        """Tell Dramatiq what happened: return to ack, raise to retry or to fail for good."""
        workflow_id, name = ref.workflow_id, ref.task_name
        retries = int(options.get("retries", 0))
        if result.status is RunStatus.FAILED:
            raise PermanentFailure(f"task {name!r} of workflow {workflow_id!r} failed") from (
                result.error
            )
        if result.status is not RunStatus.RETRY or result.error is None:
            return
        actor_options = self.broker.get_actor(name).options
        retries_middleware = self._retries()
        retry_when = _retry_when(actor_options, retries_middleware)
        if isinstance(result.error, actor_options.get("throws") or ()) or (
            retry_when is not None and not retry_when(retries, result.error)
        ):
            # Dramatiq will not retry this message (``throws``, ``retry_when``): the failure
            # is permanent, so record it, or the invocation would stay RUNNING forever.
            self.engine.fail(ref, result.error)
            self._finished.notify()
            self._replies.finished(ref)
            raise PermanentFailure(f"task {name!r} of workflow {workflow_id!r} failed") from (
                result.error
            )
        if result.retry_delay is not None:
            delay_ms = int(result.retry_delay * 1000)
        else:
            delay_ms = _longest_backoff(retries_middleware, actor_options, options, retries)
        # Dramatiq holds the retry that long at most: until then the invocation is waiting,
        # not lost, and recovery sweeps must not send it early.
        self.engine.hold(ref, until=time.time() + delay_ms / 1000)
        if result.retry_delay is not None:
            raise dramatiq.Retry(str(result.error), delay=delay_ms) from result.error
        raise result.error


def _retry_when(actor_options: dict[str, Any], middleware: Retries | None) -> Any:
    """The predicate Dramatiq's ``Retries`` applies: the actor's, else the middleware's."""
    default = None if middleware is None else middleware.retry_when
    return actor_options.get("retry_when", default)


def _longest_backoff(
    middleware: Retries | None,
    actor_options: dict[str, Any],
    options: dict[str, Any],
    retries: int,
) -> int:
    """The longest delay, in ms, Dramatiq's ``Retries`` may pick for this retry."""
    if middleware is None:
        return 0
    min_backoff = options.get("min_backoff", actor_options.get("min_backoff"))
    max_backoff = options.get("max_backoff", actor_options.get("max_backoff"))
    min_backoff = middleware.min_backoff if min_backoff is None else min_backoff
    max_backoff = middleware.max_backoff if max_backoff is None else max_backoff
    # compute_backoff: factor * 2**attempts, jittered up to twice that, capped.
    longest = int(min_backoff) << (min(retries, 32) + 1)
    return min(longest, int(max_backoff), int(DEFAULT_MAX_BACKOFF))
