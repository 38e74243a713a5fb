"""Task specifications as the engine sees them, and what a started child returns."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from enum import StrEnum
from typing import (
    TYPE_CHECKING,
    Any,
    Generic,
    ParamSpec,
    Protocol,
    TypeVar,
    overload,
    runtime_checkable,
)

from wfcore._current import current
from wfcore._models import WorkflowIdentity
from wfcore.errors import ConfigurationError

if TYPE_CHECKING:
    from wfcore.context import WorkflowContext
    from wfcore.context.async_view import AsyncWorkflowContext

__all__ = ["Body", "HasTaskSpec", "Task", "TaskResult", "TaskSpec", "spec_of"]

P = ParamSpec("P")
R = TypeVar("R")


class Body(StrEnum):
    """How the engine runs a task's function."""

    SYNC = "sync"  # a plain function, called in the worker thread
    WORKFLOW = "workflow"  # an async workflow body, on the deterministic loop
    PLAIN_ASYNC = "plain_async"  # an async task doing real I/O, on a real event loop


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """A task: its name, its function, whether it starts its own workflow, the longest a
    workflow it starts may run (seconds, None for no limit), and, for an ``async def``
    function, whether it is a workflow body (``workflow``; by default the ``async def``
    tasks declared ``force_new_workflow=True`` are) or a plain async task.

    ``body`` is derived: how the engine runs ``fn`` (see :class:`Body`).
    """

    name: str
    fn: Callable[..., Any]
    force_new_workflow: bool = False
    max_duration: float | None = None
    workflow: bool | None = None
    body: Body = field(init=False, compare=False)

    def __post_init__(self) -> None:
        body = Body.SYNC
        if inspect.iscoroutinefunction(self.fn):
            as_workflow = self.force_new_workflow if self.workflow is None else self.workflow
            body = Body.WORKFLOW if as_workflow else Body.PLAIN_ASYNC
        elif self.workflow is not None:
            raise ConfigurationError(
                f"task {self.name!r}: workflow= is for `async def` tasks (it chooses the "
                "deterministic loop over a real event loop); a plain function is always run "
                "as it is"
            )
        object.__setattr__(self, "body", body)


@runtime_checkable
class HasTaskSpec(Protocol):
    """Anything that carries a ``TaskSpec`` (the Dramatiq plugin's tasks do)."""

    @property
    def spec(self) -> TaskSpec:
        """The task's specification."""
        ...


def spec_of(task: object) -> TaskSpec:
    """The ``TaskSpec`` of a task object, or a clear error for anything else."""
    if isinstance(task, TaskSpec):
        return task
    spec = getattr(task, "spec", None)
    if isinstance(spec, TaskSpec):
        return spec
    # A Dramatiq actor has no __qualname__ but an actor_name: name what was passed.
    name = getattr(task, "__qualname__", None) or getattr(task, "actor_name", None)
    name = name if isinstance(name, str) else type(task).__name__
    raise ConfigurationError(
        f"{name!r} is not a wfcore task; declare it with @app.task before passing it to "
        "execute_task/start_task"
    )


@dataclass(frozen=True, slots=True)
class TaskResult:
    """What a finished child returned, and who it was.

    Attributes:
        result: the child's return value.
        workflow: identity of the workflow the child ran in (its own with
            ``force_new_workflow``, else the caller's).
        invocation_id: the child invocation's id.
        task_name: the child's task name.
    """

    result: Any
    workflow: WorkflowIdentity
    invocation_id: str
    task_name: str


class _Wf:
    """``task.wf``: the deterministic context of the invocation running now. Typed as an
    :class:`~wfcore.context.async_view.AsyncWorkflowContext` (awaitable waits) on a task
    whose function is ``async def``."""

    @overload
    def __get__(self, task: None, owner: type[Any]) -> _Wf: ...

    @overload
    def __get__(
        self, task: Task[..., Coroutine[Any, Any, Any]], owner: type[Any]
    ) -> AsyncWorkflowContext: ...

    @overload
    def __get__(self, task: Task[..., Any], owner: type[Any]) -> WorkflowContext: ...

    def __get__(self, task: Task[..., Any] | None, owner: type[Any]) -> Any:
        return self if task is None else current()


class Task(Generic[P, R]):
    """A declared task: callable as a plain function, with ``wf`` and ``workflow`` accessors.

    ``task.wf`` and ``task.workflow`` always describe the invocation running *now* (any task
    object gives the same answer), never one cached at declaration time.
    """

    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec
        self.__name__ = spec.name
        self.__doc__ = spec.fn.__doc__
        self.__wrapped__ = spec.fn

    wf = _Wf()

    @property
    def workflow(self) -> WorkflowIdentity:
        """The identity of the workflow running now."""
        return current().workflow

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the function directly, outside any workflow machinery."""
        return self.spec.fn(*args, **kwargs)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"<task {self.spec.name!r}>"
