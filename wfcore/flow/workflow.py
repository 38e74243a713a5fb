"""``Workflow``: steps by name, executor choice, and ``run`` (inline or durable)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from wfcore.errors import ConfigurationError
from wfcore.flow.durable import DurableExecutor, FlowRun
from wfcore.flow.errors import DuplicateStepError
from wfcore.flow.executors import Executor, InProcessExecutor
from wfcore.flow.logs import StepLogger, StepLogHelper, resolve_logger
from wfcore.flow.results import Result, TraceEntry
from wfcore.flow.runner import drive
from wfcore.flow.steps import Step

if TYPE_CHECKING:
    from wfcore_dramatiq import App

__all__ = ["DEFAULT_MAX_STEPS", "Workflow"]

DEFAULT_MAX_STEPS = 1000


class Workflow:
    """Steps routed by their decisions, run by executors, logged as structured lines.

    Args:
        executor: the default executor of the workflow's actions (``InProcessExecutor()`` when
            None). A ``DurableExecutor(app)`` makes every run one durable wfcore workflow.
        max_steps: the most steps one run may execute (a routing loop raises
            ``StepLimitError`` instead of running forever).
        name: the workflow's name on an App (its driving task is ``flow.<name>``); unique per
            App. Only durable runs use it.
        app: shorthand for ``executor=DurableExecutor(app)``.
    """

    def __init__(
        self,
        executor: Executor | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        *,
        name: str = "flow",
        app: App | None = None,
    ) -> None:
        if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1:
            raise ConfigurationError(f"max_steps must be a positive int, got {max_steps!r}")
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"a Workflow name must be a non-empty str, got {name!r}")
        self.executor: Executor = _pick(executor, app, "Workflow(...)") or InProcessExecutor()
        self.max_steps = max_steps
        self.name = name
        self._steps: dict[str, Step] = {}

    @property
    def steps(self) -> Mapping[str, Step]:
        """The workflow's steps by name."""
        return self._steps

    def add(self, *steps: Step) -> Workflow:
        """Add steps (names must be unique); returns the workflow, so calls chain.

        Raises:
            DuplicateStepError: a name is already taken (nothing of this call is added).
        """
        seen: set[str] = set()
        for step in steps:
            if not isinstance(step, Step):
                raise ConfigurationError(f"Workflow.add takes Step objects, got {step!r}")
            if step.name in self._steps or step.name in seen:
                raise DuplicateStepError(
                    f"this workflow already has a step named {step.name!r}; step names route "
                    "the run, so each must be unique"
                )
            seen.add(step.name)
        for step in steps:
            self._steps[step.name] = step
        # Durable executors declare the steps' tasks now, at import time: worker processes
        # build the same workflow when they import the module, and so know every task.
        if isinstance(self.executor, DurableExecutor):
            self.executor.register(self)
        for step in steps:
            if isinstance(step.executor, DurableExecutor):
                step.executor.register_step(self, step)
        return self

    def run(
        self,
        start: str,
        payload: Any = None,
        executor: Executor | None = None,
        logger: StepLogger | None = None,
        logger_sink: Any = None,
        *,
        ctx: dict[str, Any] | None = None,
        app: App | None = None,
        timeout: float | None = None,
    ) -> tuple[dict[str, Any], list[TraceEntry]]:
        """Run from step ``start`` with ``payload`` until no step is queued.

        Args:
            start: the first step's name.
            payload: the first step's payload.
            executor: the executor of this run (a step's own executor still wins).
            logger: a ``StepLogger`` that gets every step line and event.
            logger_sink: a file-like object; lines go to a ``StructuredLogger`` on it.
            ctx: the context dict actions and decisions share (a new dict when None); it is
                updated in place and returned.
            app: shorthand for ``executor=DurableExecutor(app)``.
            timeout: durable runs only: seconds to wait for the result.

        Returns:
            ``(context, trace)``: the context and a ``TraceEntry`` per executed step.

        Raises:
            UnknownStepError, StepLimitError, DecisionError: see ``wfcore.flow.errors``.
        """
        step_logger = resolve_logger(logger, logger_sink)
        run_executor = _pick(executor, app, "run(...)") or self.executor
        context = {} if ctx is None else ctx
        if isinstance(run_executor, DurableExecutor):
            flow_run = run_executor.start(
                self, start, payload, context, logging=step_logger is not None
            )
            return flow_run.result(timeout=timeout, logger=step_logger, ctx=context)

        def execute(step: Step, ctx: dict[str, Any], item: Any, log: StepLogHelper) -> Result:
            return (step.executor or run_executor).execute(step, ctx, item, log)

        trace = drive(
            self._steps,
            max_steps=self.max_steps,
            start=start,
            payload=payload,
            ctx=context,
            logger=step_logger,
            execute=execute,
        )
        return context, trace

    def start(
        self,
        start: str,
        payload: Any = None,
        *,
        ctx: dict[str, Any] | None = None,
        executor: DurableExecutor | None = None,
        app: App | None = None,
        workflow_id: str | None = None,
    ) -> FlowRun:
        """Start a durable run and return at once; ``FlowRun.result()`` waits for it.

        Raises:
            ConfigurationError: no durable executor (the run's or the workflow's).
        """
        run_executor = _pick(executor, app, "start(...)") or self.executor
        if not isinstance(run_executor, DurableExecutor):
            raise ConfigurationError(
                "Workflow.start() starts a durable run: pass app= (or a DurableExecutor) here "
                "or to Workflow(...); use run() to run in this process"
            )
        return run_executor.start(
            self, start, payload, dict(ctx or {}), logging=True, workflow_id=workflow_id
        )


def _pick(executor: Executor | None, app: App | None, where: str) -> Executor | None:
    if executor is not None and app is not None:
        raise ConfigurationError(f"{where}: pass executor= or app=, not both")
    if executor is not None and not callable(getattr(executor, "execute", None)):
        raise ConfigurationError(
            f"{where}: executor must have an execute(step, ctx, payload, log) method, "
            f"got {type(executor).__name__}"
        )
    return DurableExecutor(app) if app is not None else executor
