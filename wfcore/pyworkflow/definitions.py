"""``@app.workflow`` and ``@app.step``: PyWorkflow's decorators as wfcore tasks.

A workflow is an ``async def`` task declared ``force_new_workflow=True``: its body runs on
wfcore's deterministic loop and replays from the top on every resume. A step is a task whose
coroutine runs to completion on its worker thread's event loop (a real loop, one per worker
thread, as ``wfcore.steps`` does: no hop to another thread per step) with Dramatiq retries;
called inside a workflow body, ``await step(x)`` is ``(await wf.execute_task(step_task,
x)).result``: a recorded child that never runs twice once it has succeeded. Nothing here
imports Dramatiq: the App is the caller's (or the process's shared embedded default, created
on first use).
"""

from __future__ import annotations

import functools
import inspect
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from wfcore._current import current, current_or_none
from wfcore._durations import to_seconds
from wfcore._tasks import TaskResult
from wfcore.context.real_loop import run_coroutine
from wfcore.errors import ConfigurationError, FatalError, RetryableError
from wfcore.pyworkflow.body import in_workflow_body
from wfcore.pyworkflow.retrying import RetryPolicy

if TYPE_CHECKING:
    from wfcore_dramatiq import App, DramatiqTask

__all__ = [
    "Declared",
    "StepFunction",
    "WorkflowFunction",
    "declared_on",
    "step_name_of",
]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Declared:
    """One task declared by a PyWorkflow decorator, as ``LocalRunner.task`` takes it."""

    name: str
    fn: Callable[..., Any]
    force_new_workflow: bool
    max_duration: float | None
    max_retries: int


# Keyed by the App and gone with it: what the decorators declared on each App (start_local
# declares the same tasks on its runner).
_DECLARED: weakref.WeakKeyDictionary[Any, list[Declared]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def declared_on(app: App) -> list[Declared]:
    """The tasks PyWorkflow decorators declared on ``app`` so far."""
    with _LOCK:
        return list(_DECLARED.get(app, ()))


def _note(app: App, declared: Declared) -> None:
    with _LOCK:
        _DECLARED.setdefault(app, []).append(declared)


def step_name_of(task_name: str) -> str:
    """A step's name (its function's) from its task name (``module.qualname``)."""
    return task_name.rsplit(".", 1)[-1]


def _check_app(app: object, decorator: str) -> None:
    if not callable(getattr(app, "task", None)) or not hasattr(app, "engine"):
        raise ConfigurationError(
            f"{decorator}(app=...) takes a wfcore_dramatiq.App, got {type(app).__name__}"
        )


def _check_async(fn: object, decorator: str) -> None:
    if not inspect.iscoroutinefunction(fn):
        name = getattr(fn, "__qualname__", repr(fn))
        raise ConfigurationError(
            f"{decorator} decorates `async def` functions; {name} is not one (write it as "
            "`async def`, or declare a sync task with @app.task)"
        )


async def _value(awaitable: Any) -> Any:
    """The child's return value (``wf.execute_task`` is awaitable in a workflow body)."""
    result: TaskResult = await awaitable
    return result.result


class WorkflowFunction(Generic[P, R]):
    """An ``async def`` workflow declared with ``@app.workflow``.

    Start it with ``app.start(workflow, *args)``; inside another workflow body,
    ``await workflow(*args)`` runs it as a child workflow. Called anywhere else it is the
    plain coroutine function (for unit tests of its logic).
    """

    def __init__(
        self,
        app: App,
        fn: Callable[P, Coroutine[Any, Any, R]],
        name: str | None,
        max_duration: object,
    ) -> None:
        _check_app(app, "@workflow")
        _check_async(fn, "@workflow")
        seconds = None if max_duration is None else to_seconds(max_duration)
        if seconds is not None and seconds <= 0:
            raise ConfigurationError(f"@workflow(max_duration={max_duration!r}) must be > 0")
        self.app = app
        self.fn = fn
        self.name = name or fn.__name__
        self.max_duration = seconds
        # A failed body is final: its steps retry, the deterministic body would only fail again.
        self.task: DramatiqTask[P, Coroutine[Any, Any, R]] = app.task(
            force_new_workflow=True,
            workflow=True,
            actor_name=self.name,
            max_retries=0,
            max_duration=seconds,
        )(fn)
        _note(app, Declared(self.name, fn, True, seconds, 0))
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Awaitable[R]:
        if in_workflow_body():
            return _value(current().execute_task(self.task, *args, **kwargs))
        return self.fn(*args, **kwargs)

    def bind(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The arguments of a start in one form (what can be passed by position is), so
        ``start(wf, "A")`` and ``start(wf, order_id="A")`` are the same start.

        Raises:
            ConfigurationError: they do not fit the workflow's signature.
        """
        try:
            bound = inspect.signature(self.fn).bind(*args, **kwargs)
        except TypeError as exc:
            raise ConfigurationError(f"cannot start workflow {self.name!r}: {exc}") from None
        return bound.args, bound.kwargs

    def __repr__(self) -> str:
        return f"<workflow {self.name!r}>"


class StepFunction(Generic[P, R]):
    """An ``async def`` step declared with ``@app.step``.

    Inside a workflow body ``await step(*args)`` is a recorded child task run by any worker
    (with the step's retries); anywhere else the plain coroutine function.
    """

    def __init__(
        self,
        app: App,
        fn: Callable[P, Coroutine[Any, Any, R]],
        max_retries: object,
        retry_delay: object,
    ) -> None:
        _check_app(app, "@step")
        _check_async(fn, "@step")
        self.policy = policy = RetryPolicy.parse(max_retries, retry_delay)
        self.app = app
        self.fn = fn
        self.task_name = f"{fn.__module__}.{fn.__qualname__}"
        self.name = step_name_of(self.task_name)

        async def run_step(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except (FatalError, ConfigurationError):
                raise  # never retried
            except RetryableError as exc:
                if exc.delay is None:
                    exc.delay = policy.delay(current().attempt)
                raise
            except Exception as exc:
                attempt = current().attempt
                if attempt > policy.max_retries:
                    raise  # the last attempt: the step fails with the error as it is
                raise RetryableError(
                    f"{type(exc).__name__}: {exc}", delay=policy.delay(attempt)
                ) from exc

        def run_in_thread(*args: Any, **kwargs: Any) -> Any:
            # On this worker thread's loop: the AsyncIO middleware's loop thread (what plain
            # async tasks use) costs a thread hop per step, ~0.3x an execute_task child (B8).
            return run_coroutine(run_step(*args, **kwargs))

        run_in_thread.__qualname__ = fn.__qualname__
        run_in_thread.__module__ = fn.__module__
        self.task: DramatiqTask[..., Any] = app.task(
            actor_name=self.task_name, max_retries=policy.max_retries
        )(run_in_thread)
        _note(app, Declared(self.task_name, run_in_thread, False, None, policy.max_retries))
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Awaitable[R]:
        if in_workflow_body():
            # Recorded now, at the call (not at the await): gather keeps the call order.
            return _value(current().execute_task(self.task, *args, **kwargs))
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<step {self.name!r}>"


def workflow_decorator(app: App, fn: Any, name: str | None, max_duration: object) -> Any:
    """``@app.workflow`` / ``@app.workflow(...)``: a WorkflowFunction, or a decorator."""
    if fn is not None:
        return WorkflowFunction(app, fn, name, max_duration)
    return lambda f: WorkflowFunction(app, f, name, max_duration)


def step_decorator(app: App, fn: Any, max_retries: object, retry_delay: object) -> Any:
    """``@app.step`` / ``@app.step(...)``: a StepFunction, or a decorator."""
    if fn is not None:
        return StepFunction(app, fn, max_retries, retry_delay)
    return lambda f: StepFunction(app, f, max_retries, retry_delay)


def start(
    workflow: WorkflowFunction[P, Any],
    *args: Any,
    idempotency_key: str | None = None,
    **kwargs: Any,
) -> str:
    """Start ``workflow`` on its App's workers; its run id (the workflow id).

    The same ``idempotency_key`` always returns the same run id: the second start does not
    run the workflow again (with other arguments it raises ``ConfigurationError``).

    Raises:
        ConfigurationError: ``workflow`` is not declared with ``@app.workflow``; called
            inside a workflow (``await workflow(...)`` there starts a child workflow).
    """
    if not isinstance(workflow, WorkflowFunction):
        raise ConfigurationError(
            f"start() takes a function decorated with @app.workflow, got {workflow!r}"
        )
    if current_or_none() is not None:
        raise ConfigurationError(
            "start() begins a top-level run and cannot be called inside a workflow or step; "
            "`await other_workflow(...)` in a workflow body runs it as a child workflow"
        )
    args, kwargs = workflow.bind(args, kwargs)
    handle = workflow.task.send_with_options(
        args=args, kwargs=kwargs, idempotency_key=idempotency_key
    )
    return handle.workflow_id
