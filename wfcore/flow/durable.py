"""Durable runs: ``DurableExecutor(app)`` makes a run one wfcore workflow on the App.

The run's driver is a task (``flow.<workflow name>``) whose body is the ordinary run loop.
Each action runs as a recorded child task (``flow.<workflow>.<step>``) on the App's workers,
or, for a step whose own executor is not durable, as a checkpoint (``wf.deterministic``)
inside the driver. Decisions are workflow code: they run again on every replay and must be
deterministic, so the queue, ``ctx`` and the trace are rebuilt from the recorded results.
Nothing here imports Dramatiq: the App is passed in by the user.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from wfcore import Codec, current
from wfcore.errors import ConfigurationError, EncodeError, TaskFailedError, WorkflowFailedError
from wfcore.flow.errors import FLOW_ERRORS, FlowError
from wfcore.flow.executors import InProcessExecutor
from wfcore.flow.logs import BaseStepLogger, StepLogger, StepLogHelper, logged_at, logged_time
from wfcore.flow.logs import resolve_logger as _resolve_logger
from wfcore.flow.results import Result, TraceEntry
from wfcore.flow.routing import RoutingQueue, unknown_step
from wfcore.flow.runner import drive
from wfcore.flow.steps import Step

if TYPE_CHECKING:
    from wfcore.flow.executors import Executor
    from wfcore.flow.workflow import Workflow
    from wfcore_dramatiq import App, DramatiqTask, WorkflowHandle

__all__ = ["DurableExecutor", "FlowRun"]

POSITION_KEY = "flow.position"
"""Workflow data a durable run updates after each step: executed count, last step, queue."""


class _Registry:
    """What one App knows of flow workflows: each by name, its driver and action tasks."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.workflows: dict[str, Workflow] = {}
        self.drivers: dict[str, DramatiqTask[..., Any]] = {}
        self.actions: dict[Step, DramatiqTask[..., Any]] = {}


# Keyed by the App object and gone with it: the registry is the App's, not the process's.
_REGISTRIES: weakref.WeakKeyDictionary[App, _Registry] = weakref.WeakKeyDictionary()
_REGISTRIES_LOCK = threading.Lock()


def _registry_of(app: App) -> _Registry:
    with _REGISTRIES_LOCK:
        registry = _REGISTRIES.get(app)
        if registry is None:
            registry = _REGISTRIES[app] = _Registry()
        return registry


class DurableExecutor:
    """Runs actions as recorded tasks on ``app``; as a run's executor, makes the run durable.

    ``Workflow(executor=DurableExecutor(app))`` (or ``Workflow(app=app)``) declares, when
    steps are added, a driver task ``flow.<name>`` and one task per step
    ``flow.<name>.<step>`` on the App, so worker processes that import the module defining
    the workflow know them all. Only declared steps ever run: stored data names a step, and
    the name is looked up in the workflow the worker built, never imported.

    Args:
        app: a ``wfcore_dramatiq.App``.
        **task_options: Dramatiq actor options for the declared tasks (``queue_name``,
            ``time_limit``, ...).
    """

    def __init__(self, app: App, **task_options: Any) -> None:
        if not callable(getattr(app, "task", None)):
            raise ConfigurationError(
                f"DurableExecutor needs a wfcore_dramatiq.App, got {type(app).__name__}"
            )
        self.app = app
        self.task_options = task_options
        self._registry = _registry_of(app)

    def __repr__(self) -> str:
        return f"DurableExecutor({self.app!r})"

    # -- declaring ---------------------------------------------------------------------

    def register(self, workflow: Workflow) -> None:
        """Declare the workflow's driver task and a task per step (idempotent).

        Raises:
            ConfigurationError: another workflow with this name is registered on the App.
        """
        registry = self._registry
        with registry.lock:
            self._claim(workflow)
            if workflow.name not in registry.drivers:
                registry.drivers[workflow.name] = self._declare(
                    f"flow.{workflow.name}", self._driver(workflow), (FlowError, EncodeError)
                )
            for step in workflow.steps.values():
                self._declare_action(workflow, step)

    def register_step(self, workflow: Workflow, step: Step) -> None:
        """Declare the task of one step (a step whose own executor this is)."""
        with self._registry.lock:
            self._claim(workflow)
            self._declare_action(workflow, step)

    def _claim(self, workflow: Workflow) -> None:
        known = self._registry.workflows.setdefault(workflow.name, workflow)
        if known is not workflow:
            raise ConfigurationError(
                f"another flow workflow named {workflow.name!r} is registered on this App; "
                "give each one its own Workflow(name=...)"
            )

    def _declare_action(self, workflow: Workflow, step: Step) -> None:
        if step not in self._registry.actions:
            name = f"flow.{workflow.name}.{step.name}"
            self._registry.actions[step] = self._declare(name, _action_task(step), (EncodeError,))

    def _declare(self, name: str, fn: Any, throws: tuple[type[Exception], ...]) -> Any:
        options = dict(self.task_options)
        options["throws"] = (*throws, *_tuple(options.get("throws", ())))
        return self.app.task(actor_name=name, **options)(fn)

    def _task_of(self, step: Step) -> DramatiqTask[..., Any]:
        try:
            return self._registry.actions[step]
        except KeyError:
            raise ConfigurationError(
                f"step {step.name!r} has no task on this App; add it to a Workflow whose "
                "executor (or its own) is this App's DurableExecutor"
            ) from None

    # -- running ------------------------------------------------------------------------

    def execute(self, step: Step, ctx: dict[str, Any], payload: Any, log: StepLogHelper) -> Result:
        """A step's own executor in a run that is not durable: its action runs as a
        workflow of its own on the App's workers; this waits for it."""
        out = self._task_of(step).send_with_options(args=(ctx, payload)).result()
        return _apply(out, ctx, payload, log)

    def start(
        self,
        workflow: Workflow,
        start: str,
        payload: Any,
        ctx: dict[str, Any],
        *,
        logging: bool,
        workflow_id: str | None = None,
    ) -> FlowRun:
        """Start a durable run of ``workflow`` on the App; returns at once."""
        self.register(workflow)
        for step in workflow.steps.values():
            other = step.executor
            if isinstance(other, DurableExecutor) and other.app is not self.app:
                raise ConfigurationError(
                    f"step {step.name!r} has a DurableExecutor on another App; a durable run "
                    "runs its steps on its own App"
                )
        if start not in workflow.steps:
            raise unknown_step(start, workflow.steps, "run(start=...)")
        driver = self._registry.drivers[workflow.name]
        handle = driver.send_with_options(
            args=(start, payload, ctx, logging), workflow_id=workflow_id
        )
        return FlowRun(handle, self.app.engine.codec)

    def _driver(self, workflow: Workflow) -> Any:
        def run_flow(start: str, payload: Any, ctx: dict[str, Any], logging: bool) -> list[Any]:
            return self._drive(workflow, start, payload, ctx, logging)

        run_flow.__qualname__ = run_flow.__name__ = f"flow.{workflow.name}"
        return run_flow

    def _drive(
        self,
        workflow: Workflow,
        start: str,
        payload: Any,
        ctx: dict[str, Any],
        logging: bool,
    ) -> list[Any]:
        wf = current()
        recorder = _Recorder() if logging else None

        def execute(step: Step, ctx: dict[str, Any], item: Any, log: StepLogHelper) -> Result:
            executor = step.executor
            if executor is None or isinstance(executor, DurableExecutor):
                try:
                    out = wf.execute_task(self._task_of(step), ctx, item).result
                except TaskFailedError as exc:  # the child itself failed, not its action
                    return Result.failure(exc, item)
            else:
                name = f"flow.{step.name}"
                out = wf.deterministic(name, _run_collecting, executor, step, ctx, item)
            return _apply(out, ctx, item, log)

        def after_step(trace: list[TraceEntry], queue: RoutingQueue) -> None:
            position = {"executed": len(trace), "last": trace[-1].step, "queued": queue.names()}
            wf.set_data(POSITION_KEY, position)

        trace = drive(
            workflow.steps,
            max_steps=workflow.max_steps,
            start=start,
            payload=payload,
            ctx=ctx,
            logger=recorder,
            execute=execute,
            after_step=after_step,
        )
        pack = self._pack
        rows = [
            [e.step, e.payload, e.result.ok, e.result.value, pack(e.result.error)] for e in trace
        ]
        records = [] if recorder is None else recorder.records
        for record in records:
            if record[0] == "log":
                record[6] = pack(record[6])
        return [ctx, rows, records]

    def _pack(self, error: BaseException | None) -> bytes | None:
        """An action's error as the codec's bytes: exceptions compare by identity, so a
        result holding them could never equal its replay; their encoded forms do."""
        if error is None:
            return None
        return self.app.engine.codec.encode(error, what="a flow step's error")


class FlowRun:
    """A durable run in progress: ``workflow_id``, the wfcore ``handle``, and ``result()``."""

    def __init__(self, handle: WorkflowHandle[Any], codec: Codec) -> None:
        self.handle = handle
        self.workflow_id = handle.workflow_id
        self._codec = codec

    def _unpack(self, error: bytes | None) -> Any:
        if error is None:
            return None
        return self._codec.decode(error, what="a flow step's error")

    def result(
        self,
        timeout: float | None = None,
        logger: StepLogger | None = None,
        logger_sink: Any = None,
        *,
        ctx: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], list[TraceEntry]]:
        """Wait for the run; ``(context, trace)`` as ``Workflow.run`` returns them.

        The run's log lines (recorded as they happened, with their times) go to ``logger``
        / ``logger_sink`` here, in order. ``ctx``, if given, is updated in place.

        Raises:
            FlowError: the run failed with one (``StepLimitError``, ``DecisionError``, ...).
            WorkflowFailedError, WorkflowCancelledError, TimeoutError: as ``handle.result``.
        """
        try:
            out = self.handle.result(timeout=timeout)
        except WorkflowFailedError as exc:
            cls = FLOW_ERRORS.get(exc.error_type)
            if cls is None:
                raise
            raise cls(f"{exc.error_message} (workflow {self.workflow_id!r})") from exc
        new_ctx, rows, records = out
        step_logger = _resolve_logger(logger, logger_sink)
        if step_logger is not None:
            _hand_over(records, step_logger, self._unpack)
        unpack = self._unpack
        trace = [TraceEntry(s, p, Result(ok, v, unpack(e), p)) for s, p, ok, v, e in rows]
        if ctx is None:
            return new_ctx, trace
        ctx.clear()
        ctx.update(new_ctx)
        return ctx, trace


# -- what crosses the wire ----------------------------------------------------------------


def _action_task(step: Step) -> Any:
    """The body of a step's task: the action in the worker, events collected with times."""

    def run_action(ctx: dict[str, Any], payload: Any) -> list[Any]:
        return _run_collecting(InProcessExecutor(), step, ctx, payload)

    run_action.__qualname__ = run_action.__name__ = f"flow.step.{step.name}"
    return run_action


def _run_collecting(executor: Executor, step: Step, ctx: dict[str, Any], payload: Any) -> list[Any]:
    """Run the action, its events collected: ``[ctx, ok, value, error, events]``."""
    collector = _Collector()
    result = executor.execute(step, ctx, payload, StepLogHelper(collector, step.name))
    return [ctx, result.ok, result.value, result.error, collector.events]


def _apply(out: list[Any], ctx: dict[str, Any], payload: Any, log: StepLogHelper) -> Result:
    """Take an action's outcome: its ``ctx`` replaces ours, its events are logged (at the
    times they happened), and its ``Result`` is returned."""
    new_ctx, ok, value, error, events = out
    if new_ctx is not ctx:
        ctx.clear()
        ctx.update(new_ctx)
    for when, name, data in events:
        with logged_at(when):
            log.event(name, **data)
    return Result(ok, value, error, payload)


class _Collector(BaseStepLogger):
    """Collects an action's events as ``[time, name, data]`` (it runs where no logger is)."""

    def __init__(self) -> None:
        self.events: list[list[Any]] = []

    def event(self, step_name: str, name: str, /, **data: Any) -> None:
        self.events.append([self.now(), name, data])


class _Recorder(BaseStepLogger):
    """The driver's logger: records lines to hand over to the caller's logger after the run.
    Times come from ``wf.utc_now()``, so replays rebuild the same records."""

    def __init__(self) -> None:
        self.records: list[list[Any]] = []

    def now(self) -> datetime:
        at = logged_time()
        return current().utc_now() if at is None else at

    def log(self, step_name: str, payload: Any, result: Result) -> None:
        self.records.append(
            ["log", self.now(), step_name, payload, result.ok, result.value, result.error]
        )

    def event(self, step_name: str, name: str, /, **data: Any) -> None:
        self.records.append(["event", self.now(), step_name, name, data])


def _hand_over(
    records: list[list[Any]], logger: StepLogger, unpack: Callable[[bytes | None], Any]
) -> None:
    for record in records:
        kind, when, step_name = record[0], record[1], record[2]
        with logged_at(when):
            if kind == "log":
                payload, ok, value, error = record[3:]
                logger.log(step_name, payload, Result(ok, value, unpack(error), payload))
            else:
                event = getattr(logger, "event", None)
                if event is not None:
                    event(step_name, record[3], **record[4])


def _tuple(value: Any) -> tuple[Any, ...]:
    return (value,) if isinstance(value, type) else tuple(value)
