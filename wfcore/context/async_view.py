"""``AsyncWorkflowContext``: how ``task.wf`` types in an ``async def`` task.

The same object as in a sync task (a :class:`~wfcore.context.WorkflowContext`); in an async
workflow body its waiting operations return awaitables (see :mod:`.awaiting`). This class
only tells type checkers so: ``task.wf`` of a task whose function is ``async def`` is typed
as it. Non-waiting operations (``random``, ``set_data``, ``start_task``, ...) are unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

from wfcore._tasks import TaskResult
from wfcore.context.children import TaskHandle
from wfcore.context.context import WorkflowContext

__all__ = ["AsyncDeterministic", "AsyncWorkflowContext"]

T = TypeVar("T")


class AsyncDeterministic(Protocol):
    """``wf.deterministic`` in an async workflow body: awaited; ``fn`` may be async."""

    @overload
    def __call__(
        self, name: str, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any, **kwargs: Any
    ) -> Awaitable[T]: ...

    @overload
    def __call__(
        self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any
    ) -> Awaitable[T]: ...


class AsyncWorkflowContext(WorkflowContext):
    """``task.wf`` in an async workflow body, for type checkers: waits are awaitable."""

    if TYPE_CHECKING:

        def execute_task(  # type: ignore[override]
            self, task: object, *args: Any, **kwargs: Any
        ) -> Awaitable[TaskResult]: ...

        def wait(self, *handles: TaskHandle) -> Awaitable[list[TaskResult]]: ...  # type: ignore[override]

        def sleep(self, duration: float | timedelta | str) -> Awaitable[None]: ...

        def sleep_until(self, when: datetime) -> Awaitable[None]: ...

        def wait_signal(
            self, name: str, timeout: float | timedelta | str | None = None, default: Any = ...
        ) -> Awaitable[Any]: ...

        @property
        def deterministic(self) -> AsyncDeterministic: ...  # type: ignore[override]
