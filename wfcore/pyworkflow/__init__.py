"""PyWorkflow style workflows, durable: ``@workflow`` / ``@step`` on ``async def``.

``from wfcore.pyworkflow import workflow, step, start, sleep, RetryableError, FatalError``
(or ``@app.workflow`` / ``@app.step`` / ``app.start`` on a ``wfcore_dramatiq.App``). A
workflow is an async wfcore workflow body; each ``await some_step(x)`` in it is a recorded
child task with retries; ``await sleep("1d")`` a durable timer. Importing this package does
not import Dramatiq (the default App is created on first use). See docs/styles/pyworkflow.md.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from wfcore.errors import FatalError, RetryableError
from wfcore.pyworkflow.definitions import StepFunction, WorkflowFunction, start
from wfcore.pyworkflow.definitions import step_decorator as _step
from wfcore.pyworkflow.definitions import workflow_decorator as _workflow
from wfcore.pyworkflow.events import Event, EventType, events, log
from wfcore.pyworkflow.logs import configure_logging
from wfcore.pyworkflow.timers import sleep

if TYPE_CHECKING:
    from wfcore_dramatiq import App

__all__ = [
    "Event",
    "EventType",
    "FatalError",
    "RetryableError",
    "StepFunction",
    "WorkflowFunction",
    "configure_logging",
    "events",
    "log",
    "sleep",
    "start",
    "step",
    "workflow",
]

P = ParamSpec("P")
R = TypeVar("R")
_Async = Callable[P, Coroutine[Any, Any, R]]


def _app(app: App | None) -> App:
    if app is not None:
        return app
    from wfcore.steps.registry import default_app  # the process's shared embedded App

    return default_app()


@overload
def workflow(fn: _Async[P, R], /) -> WorkflowFunction[P, R]: ...


@overload
def workflow(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    max_duration: object = None,
    app: App | None = None,
) -> Callable[[_Async[P, R]], WorkflowFunction[P, R]]: ...


def workflow(
    fn: Any = None,
    /,
    *,
    name: str | None = None,
    max_duration: object = None,
    app: App | None = None,
) -> Any:
    """Declare an ``async def`` workflow: ``@workflow()`` (``app.workflow`` on an App).

    Args:
        name: the workflow's name (its task name and ``workflow_type``); default the
            function's name.
        max_duration: "1h", seconds or a ``timedelta``: the run fails with
            ``DeadlineExceededError`` if it is not finished by then (default: no limit).
        app: the App whose workers run it; None for the process's shared embedded App.
    """
    return _workflow(_app(app), fn, name, max_duration)


@overload
def step(fn: _Async[P, R], /) -> StepFunction[P, R]: ...


@overload
def step(
    fn: None = None,
    /,
    *,
    max_retries: int = 3,
    retry_delay: object = "exponential",
    app: App | None = None,
) -> Callable[[_Async[P, R]], StepFunction[P, R]]: ...


def step(
    fn: Any = None,
    /,
    *,
    max_retries: int = 3,
    retry_delay: object = "exponential",
    app: App | None = None,
) -> Any:
    """Declare an ``async def`` step: ``@step(max_retries=3, retry_delay="exponential")``.

    Args:
        max_retries: attempts after the first one (a ``FatalError`` is never retried).
        retry_delay: "exponential" (1 s, 2 s, 4 s, ...), "fixed" (60 s), or a fixed wait
            ("5s", seconds, a ``timedelta``); ``RetryableError(retry_after=...)`` overrides it.
        app: the App whose workers run it; None for the process's shared embedded App.
    """
    return _step(_app(app), fn, max_retries, retry_delay)
