"""``DramatiqTask``: a workflow task as a callable, a Dramatiq actor and a workflow starter."""

from __future__ import annotations

from collections.abc import Coroutine
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

import dramatiq

from wfcore import Task, TaskHandle, TaskSpec, current_or_none
from wfcore.errors import ConfigurationError
from wfcore_dramatiq._handle import WorkflowHandle

if TYPE_CHECKING:
    from wfcore_dramatiq._app import App

__all__ = ["DramatiqTask"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class DramatiqTask(Task[P, R]):
    """A workflow task: a plain callable, a Dramatiq actor (``.actor``) and a starter.

    Like a ``dramatiq.Actor`` it builds messages (``message``, ``message_with_options``) for
    ``dramatiq.group`` and ``dramatiq.pipeline``: each such message starts a workflow when a
    worker takes it, and its result (for the Results middleware and the next pipeline
    step) is the workflow's result, given when the workflow finishes.
    """

    def __init__(self, app: App, spec: TaskSpec, actor: dramatiq.Actor[..., Any]) -> None:
        super().__init__(spec)
        self.app = app
        self.actor = actor

    @overload
    def send(
        self: DramatiqTask[P, Coroutine[Any, Any, T]], *args: P.args, **kwargs: P.kwargs
    ) -> WorkflowHandle[T] | TaskHandle: ...

    @overload
    def send(self, *args: P.args, **kwargs: P.kwargs) -> WorkflowHandle[R] | TaskHandle: ...

    def send(self, *args: P.args, **kwargs: P.kwargs) -> WorkflowHandle[Any] | TaskHandle:
        """Start it: outside a workflow a new workflow (a handle to it); inside one a child.

        Inside a workflow this is recorded exactly like ``wf.start_task(task, ...)``.
        """
        ctx = current_or_none()
        if ctx is not None:
            return ctx.start_task(self, *args, **kwargs)
        return self.send_with_options(args=args, kwargs=kwargs)

    @overload
    def send_with_options(
        self: DramatiqTask[P, Coroutine[Any, Any, T]],
        *,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        workflow_id: str | None = None,
        delay: float | timedelta | None = None,
        max_duration: float | None = None,
    ) -> WorkflowHandle[T]: ...

    @overload
    def send_with_options(
        self,
        *,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        workflow_id: str | None = None,
        delay: float | timedelta | None = None,
        max_duration: float | None = None,
    ) -> WorkflowHandle[R]: ...

    def send_with_options(
        self,
        *,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        workflow_id: str | None = None,
        delay: float | timedelta | None = None,
        max_duration: float | None = None,
    ) -> WorkflowHandle[Any]:
        """Start a workflow with options.

        Args:
            args: positional arguments of the task.
            kwargs: keyword arguments of the task.
            idempotency_key: the same key always names the same workflow; a second start
                with the same task and arguments returns the first one (running or
                finished) without running it again; other arguments raise
                ``ConfigurationError``.
            workflow_id: an explicit id, with the same idempotent behaviour; the forms of
                the ids derived from keys and for child workflows, and ids ending in
                ``~run`` + digits (continued runs' roots), are refused.
            delay: how long to wait before the workflow starts: seconds, or a
                ``timedelta`` (``dramatiq.Actor.send_with_options`` takes milliseconds;
                a ``timedelta`` means the same to both).
            max_duration: seconds after which the workflow is failed with
                ``DeadlineExceededError`` (default: the task's ``max_duration``).
        """
        if current_or_none() is not None:
            raise ConfigurationError(
                "send_with_options starts a new top-level workflow and cannot be used inside "
                "a workflow; use wf.start_task(task, ...) (or task.send(...)) for a child"
            )
        if isinstance(delay, timedelta):
            delay = delay.total_seconds()
        record, _ = self.app.engine.start(
            self.spec,
            tuple(args),
            dict(kwargs or {}),
            workflow_id=workflow_id,
            idempotency_key=idempotency_key,
            delay=delay,
            max_duration=max_duration,
        )
        self.app.start_worker()
        return WorkflowHandle(self.app, record.workflow_id)

    def message(self, *args: P.args, **kwargs: P.kwargs) -> dramatiq.Message[R]:
        """A message that starts this workflow, as ``dramatiq.Actor.message`` builds one.

        Nothing is sent: pass it to ``dramatiq.group``/``pipeline`` or ``broker.enqueue``.
        Each delivery of it starts (at most) one workflow, ``msg-<message id>``.

        Raises:
            ConfigurationError: called inside a workflow (a raw message would escape its
                history; use ``wf.start_task`` and ``wf.wait`` there).
        """
        return self.message_with_options(args=args, kwargs=kwargs)

    def message_with_options(
        self,
        *,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> dramatiq.Message[R]:
        """``message`` with Dramatiq message options (``store_results``, ``result_ttl``,
        ``pipe_ignore``, ...), as ``dramatiq.Actor.message_with_options``.

        Raises:
            ConfigurationError: called inside a workflow.
        """
        if current_or_none() is not None:
            raise ConfigurationError(
                f"{self.spec.name}.message(...) inside a workflow would start workflows its "
                "history does not record (every replay would send them again); use "
                f"wf.start_task({self.spec.name}, ...) for each, then wf.wait(*handles)"
            )
        self.app.start_worker()  # the embedded worker reads what a group or pipeline sends
        message: dramatiq.Message[R] = self.actor.message_with_options(
            args=tuple(args), kwargs=dict(kwargs or {}), **options
        )
        return message
