"""``Workflow``: st-workflow's API (scoped steps on a shared ``ctx``) as one durable workflow."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from wfcore.errors import ConfigurationError, WorkflowCancelledError, WorkflowFailedError
from wfcore.steps.driver import CTX_KEY, FAILURES_KEY
from wfcore.steps.errors import StepFailedError, UnknownStepError
from wfcore.steps.model import (
    ExecutionMode,
    Scope,
    StepFunction,
    StepSpec,
    check_options,
    step_name_of,
    task_name_of,
)
from wfcore.steps.registry import default_app, tasks_of

if TYPE_CHECKING:
    from wfcore_dramatiq import App, WorkflowHandle

__all__ = ["Workflow"]

_POLL = 0.5
"""Seconds each waiting thread blocks before the awaiting coroutine looks again."""
_RAISED_AGAIN = {
    f"{cls.__module__}.{cls.__qualname__}": cls for cls in (StepFailedError, UnknownStepError)
}


class Workflow:
    """Steps on a shared context, run as one durable wfcore workflow.

    Args:
        ctx: the shared context; each step's return value is stored as ``ctx[step name]``.
            Its values must be storable (wfcore's codec: plain data, datetimes, ...).
            ``run()`` updates this dict in place with the final context.
        app: the ``wfcore_dramatiq.App`` whose workers run the steps; None for the process's
            shared embedded default (``wfcore.steps.default_app()``).
        name: a label for the run (an argument of its driver, shown in its history).
        retry_backoff: seconds before a step's first retry; it doubles per retry, up to
            ``max_backoff``. The wait is a recorded durable sleep: no worker is held.
        max_backoff: the longest wait between two attempts of a step.
    """

    def __init__(
        self,
        ctx: dict[str, Any] | None = None,
        app: App | None = None,
        name: str | None = None,
        *,
        retry_backoff: float = 1.0,
        max_backoff: float = 60.0,
    ) -> None:
        if ctx is not None and not isinstance(ctx, dict):
            raise ConfigurationError(f"Workflow(ctx=...) takes a dict, got {type(ctx).__name__}")
        if not (isinstance(retry_backoff, int | float) and 0 <= retry_backoff <= max_backoff):
            raise ConfigurationError(
                f"retry_backoff ({retry_backoff!r}) must be a number of seconds between 0 and "
                f"max_backoff ({max_backoff!r})"
            )
        self.ctx: dict[str, Any] = {} if ctx is None else ctx
        self.app = app
        self.name = name or "steps"
        self.backoff = [float(retry_backoff), float(max_backoff)]
        self.steps: list[StepSpec] = []
        self.handle: WorkflowHandle[dict[str, Any]] | None = None
        self._functions: list[StepFunction] = []
        self._lock = threading.Lock()
        self._cancel_requested = False
        if app is not None:
            tasks_of(app)  # declares the driver now: worker processes import this module

    # -- declaring ---------------------------------------------------------------------

    def add_step(
        self,
        func: StepFunction,
        scope: Scope = Scope.NORMAL,
        name: str | None = None,
        timeout: float | None = None,
        retries: int = 0,
        cont_on_err: bool = False,
    ) -> None:
        """Add a step: ``async def step(ctx)`` or ``def step(ctx)``.

        Args:
            func: the step function (module level: workers find it by qualified name).
            scope: NORMAL, ERROR or EXIT.
            name: its key in ``ctx`` (default: the function's name); unique per workflow.
            timeout: seconds one attempt may take (a timeout is a failed attempt).
            retries: attempts after the first, with a doubling backoff.
            cont_on_err: a NORMAL step whose last attempt failed lets the run go on (no
                ERROR steps, no failure of the run; ``ctx[name]`` is not set).

        Raises:
            ConfigurationError: bad options, a duplicate name, a lambda.
        """
        self._add([func], scope, step_name_of(func, name), timeout, retries, cont_on_err)

    def add_error_step(
        self,
        func: StepFunction,
        name: str | None = None,
        timeout: float | None = None,
        retries: int = 0,
    ) -> None:
        """``add_step(func, Scope.ERROR, ...)``: runs after a NORMAL step failed."""
        self.add_step(func, Scope.ERROR, name, timeout, retries)

    def add_exit_step(
        self,
        func: StepFunction,
        name: str | None = None,
        timeout: float | None = None,
        retries: int = 0,
    ) -> None:
        """``add_step(func, Scope.EXIT, ...)``: runs at the end, whatever happened."""
        self.add_step(func, Scope.EXIT, name, timeout, retries)

    def add_parallel_steps(
        self,
        funcs: Sequence[StepFunction],
        name: str | None = None,
        execution_mode: ExecutionMode = ExecutionMode.THREAD,
        scope: Scope = Scope.NORMAL,
        timeout: float | None = None,
        retries: int = 0,
        cont_on_err: bool = False,
    ) -> None:
        """One step running ``funcs`` concurrently (a child task each, started together).

        ``ctx[name]`` is the list of their return values, in order; their changes to ``ctx``
        merge in order. The step fails if one of them fails after its retries (those that
        succeeded are not run again). ``execution_mode`` is accepted for compatibility:
        every function runs as a task on the App's workers.
        """
        if not isinstance(funcs, Sequence) or not funcs:
            raise ConfigurationError("add_parallel_steps takes a non-empty list of functions")
        if not isinstance(execution_mode, ExecutionMode):
            raise ConfigurationError(
                f"execution_mode must be an ExecutionMode, got {execution_mode!r}"
            )
        if name is None:
            name = "_".join(step_name_of(f, None) for f in funcs)
        self._add(
            list(funcs),
            scope,
            step_name_of(funcs[0], name),
            timeout,
            retries,
            cont_on_err,
            parallel=True,
        )

    def _add(
        self,
        funcs: list[StepFunction],
        scope: Scope,
        name: str,
        timeout: float | None,
        retries: int,
        cont_on_err: bool,
        *,
        parallel: bool = False,
    ) -> None:
        check_options(name, scope, timeout, retries)
        if cont_on_err and scope is not Scope.NORMAL:
            raise ConfigurationError(f"step {name!r}: cont_on_err is for NORMAL steps only")
        if any(step.name == name for step in self.steps):
            raise ConfigurationError(
                f"this workflow already has a step named {name!r} (its result is ctx[{name!r}]); "
                "pass name= to tell them apart"
            )
        names = tuple(task_name_of(f) for f in funcs)
        if self.app is not None:
            registry = tasks_of(self.app)
            for func in funcs:
                registry.register(func)
        self._functions.extend(funcs)
        timeout = None if timeout is None else float(timeout)
        self.steps.append(StepSpec(name, scope, names, parallel, timeout, retries, cont_on_err))

    # -- running -----------------------------------------------------------------------

    @property
    def workflow_id(self) -> str | None:
        """The id of the wfcore workflow ``run()`` started (None before)."""
        return None if self.handle is None else self.handle.workflow_id

    async def run(self, *, workflow_id: str | None = None) -> dict[str, Any]:
        """Run the workflow on the App's workers and wait for it; the final ``ctx``.

        Waiting happens in helper threads, so the event loop stays free. Cancelling the
        awaiting coroutine stops only the wait (the durable run goes on); ``cancel()``
        cancels the run.

        Args:
            workflow_id: an explicit id: running again with the same id (after the caller
                crashed) waits for the same run instead of starting another.

        Raises:
            StepFailedError: a step failed (after the ERROR and EXIT steps ran); its
                ``ctx`` is the final context.
            WorkflowCancelledError: ``cancel()`` was called (the EXIT steps ran).
        """
        app = self.app if self.app is not None else default_app()
        handle = await asyncio.to_thread(self._start, app, workflow_id)
        try:
            while True:
                try:
                    final = await asyncio.to_thread(handle.result, _POLL)
                except TimeoutError:
                    continue
                break
        except WorkflowFailedError as exc:
            cls = _RAISED_AGAIN.get(exc.error_type)
            if cls is None:
                raise
            self._take(handle.get_data(CTX_KEY))
            failures = handle.get_data(FAILURES_KEY) or []
            first = failures[0] if failures else {}
            raise cls(
                f"{exc.error_message} (workflow {handle.workflow_id!r})",
                **(
                    {
                        "step": first.get("step", ""),
                        "error_type": first.get("type", ""),
                        "error_message": first.get("error", ""),
                        "failures": failures,
                        "ctx": self.ctx,
                    }
                    if cls is StepFailedError
                    else {}
                ),
            ) from exc
        except WorkflowCancelledError:
            self._take(handle.get_data(CTX_KEY))
            raise
        return self._take(final)

    def cancel(self) -> bool:
        """Cancel the run: the step in progress finishes or is skipped, no further NORMAL
        or ERROR step starts, the EXIT steps run (with ``ctx["cancelled"] = True``), and
        ``run()`` raises ``WorkflowCancelledError``. Called before ``run()`` started the
        workflow, ``run()`` raises it at once and nothing runs (no step began, so there is
        nothing to clean up); the same holds for a run cancelled while its first message
        still waited in the queue.

        Returns:
            False if the run had already finished, else True.
        """
        with self._lock:
            handle = self.handle
            if handle is None:
                self._cancel_requested = True
                return True
        return handle.cancel()

    def _start(self, app: App, workflow_id: str | None) -> WorkflowHandle[dict[str, Any]]:
        registry = tasks_of(app)
        for func in self._functions:
            registry.register(func)
        plan = [step.to_data() for step in self.steps]
        with self._lock:
            if self._cancel_requested:
                raise WorkflowCancelledError(
                    f"workflow {self.name!r} was cancelled before it started: no step ran"
                )
            self.handle = registry.driver.send_with_options(
                args=(self.name, plan, dict(self.ctx), self.backoff), workflow_id=workflow_id
            )
            return self.handle

    def _take(self, final: dict[str, Any] | None) -> dict[str, Any]:
        if final is not None:
            self.ctx.clear()
            self.ctx.update(final)
        return self.ctx

    def __repr__(self) -> str:
        return f"Workflow(name={self.name!r}, steps={[s.name for s in self.steps]!r})"
