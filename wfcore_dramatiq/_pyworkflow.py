"""The App's PyWorkflow-style methods: ``@app.workflow``, ``@app.step``, ``app.start``.

Thin: each declares wfcore tasks on this App through :mod:`wfcore.pyworkflow`
(docs/styles/pyworkflow.md).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from wfcore.errors import ConfigurationError
from wfcore.pyworkflow import StepFunction, WorkflowFunction
from wfcore.pyworkflow import start as _start
from wfcore.pyworkflow.definitions import step_decorator, workflow_decorator

if TYPE_CHECKING:
    from wfcore_dramatiq._app import App

__all__ = ["PyWorkflowMethods"]

P = ParamSpec("P")
R = TypeVar("R")
_Async = Callable[P, Coroutine[Any, Any, R]]


class PyWorkflowMethods:
    """``App.workflow``, ``App.step`` and ``App.start`` (PyWorkflow's decorators)."""

    @overload
    def workflow(self, fn: _Async[P, R], /) -> WorkflowFunction[P, R]: ...

    @overload
    def workflow(
        self, fn: None = None, /, *, name: str | None = None, max_duration: object = None
    ) -> Callable[[_Async[P, R]], WorkflowFunction[P, R]]: ...

    def workflow(
        self, fn: Any = None, /, *, name: str | None = None, max_duration: object = None
    ) -> Any:
        """Declare an ``async def`` workflow on this App (``@app.workflow()``).

        Args:
            name: its name (task name, ``workflow_type``); default the function's name.
            max_duration: "1h", seconds or a ``timedelta``; the run fails with
                ``DeadlineExceededError`` if not finished by then (default: no limit).
        """
        return workflow_decorator(self._as_app(), fn, name, max_duration)

    @overload
    def step(self, fn: _Async[P, R], /) -> StepFunction[P, R]: ...

    @overload
    def step(
        self, fn: None = None, /, *, max_retries: int = 3, retry_delay: object = "exponential"
    ) -> Callable[[_Async[P, R]], StepFunction[P, R]]: ...

    def step(
        self, fn: Any = None, /, *, max_retries: int = 3, retry_delay: object = "exponential"
    ) -> Any:
        """Declare an ``async def`` step on this App (``@app.step(max_retries=3, ...)``).

        Args:
            max_retries: attempts after the first (a ``FatalError`` is never retried).
            retry_delay: "exponential" (1 s, 2 s, 4 s, ...), "fixed" (60 s) or a fixed wait
                ("5s", seconds, a ``timedelta``); ``RetryableError(retry_after=...)`` wins.
        """
        return step_decorator(self._as_app(), fn, max_retries, retry_delay)

    def start(
        self,
        workflow: WorkflowFunction[P, Any],
        *args: Any,
        idempotency_key: str | None = None,
        **kwargs: Any,
    ) -> str:
        """Start a run of ``workflow`` (declared on this App); its run id (workflow id).
        ``app.handle(run_id)`` follows it. The same ``idempotency_key`` gives the same run.

        Raises:
            ConfigurationError: ``workflow`` is declared on another App, or not with
                ``@app.workflow``; called inside a workflow.
        """
        if isinstance(workflow, WorkflowFunction) and workflow.app is not self:
            raise ConfigurationError(
                f"workflow {workflow.name!r} is declared on another App; start it with that "
                "App's start()"
            )
        return _start(workflow, *args, idempotency_key=idempotency_key, **kwargs)

    def _as_app(self) -> App:
        return self  # type: ignore[return-value]
