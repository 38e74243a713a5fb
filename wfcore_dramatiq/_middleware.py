"""``WorkflowMiddleware``: carries workflow context on messages and exposes the current one."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware, MiddlewareError

from wfcore import current_or_none
from wfcore.context.real_loop import close_thread_loop
from wfcore.errors import ConfigurationError
from wfcore_dramatiq._recovery import RecoverySweeper

__all__ = ["OPTION", "UnrecordedSendError", "WorkflowMiddleware"]

OPTION = "wfcore"
"""The one message option wfcore uses (a dict)."""


class UnrecordedSendError(ConfigurationError, MiddlewareError):
    """A workflow task's actor was sent raw inside a workflow, where it would not be recorded.

    Also a Dramatiq ``MiddlewareError``, the only kind Dramatiq lets out of ``before_enqueue``.
    """


class WorkflowMiddleware(Middleware):
    """Adds workflow context to enqueued messages and tracks the message being processed.

    ``before_enqueue`` fires again for retries, delayed promotions and in consumer threads, so
    the option is set only when absent. The message being processed is kept per worker thread
    for the actor wrapper, and cleared after every message.
    """

    def __init__(
        self,
        sweeper: RecoverySweeper | None = None,
        is_task: Callable[[str], bool] = lambda name: False,
    ) -> None:
        self._local = threading.local()
        self._sweeper = sweeper
        self._is_task = is_task
        # What observers add to the option of each message that runs an invocation
        # (metrics: when it is due; tracing: the sending span), given the option and delay.
        self.stamps: list[Callable[[dict[str, Any], int | None], None]] = []

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        """Start the recovery sweep in this worker process."""
        if self._sweeper is not None:
            self._sweeper.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        """Stop the recovery sweep."""
        if self._sweeper is not None:
            self._sweeper.stop()

    def before_worker_thread_shutdown(self, broker: dramatiq.Broker, thread: Any) -> None:
        """Close the event loop async steps ran on in this worker thread (if any)."""
        close_thread_loop()

    @property
    def actor_options(self) -> set[str]:
        """Actor options this middleware understands."""
        return {"force_new_workflow", "max_duration"}

    def before_enqueue(
        self, broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: int
    ) -> None:
        """Stamp messages sent from inside an invocation with that invocation's identity;
        let observers stamp the messages that run invocations."""
        option = message.options.get(OPTION)
        if option is not None:
            if self.stamps and "invocation_id" in option:
                for stamp in self.stamps:
                    stamp(option, delay)
            return
        ctx = current_or_none()
        if ctx is not None:
            if self._is_task(message.actor_name):
                # A raw actor send would escape the history: every replay would send again.
                name = message.actor_name
                raise UnrecordedSendError(
                    f"a message to workflow task {name!r} was sent raw inside a workflow "
                    f"({name}.actor.send(...), or its message in a dramatiq group or "
                    "pipeline): it is not recorded, every replay would send it again; use "
                    f"{name}.send(...) or wf.start_task(...) instead (and wf.wait(*handles))"
                )
            message.options[OPTION] = {
                "parent_workflow_id": ctx.workflow.workflow_id,
                "parent_invocation_id": ctx.invocation_id,
                "root_workflow_id": ctx.workflow.root_workflow_id,
            }

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        """Remember the message this worker thread is about to process."""
        self._local.message = message

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        """Forget the processed message."""
        self._local.message = None

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        """Forget a skipped message."""
        self._local.message = None

    def current_message(self) -> Any:
        """The message this worker thread is processing, or None."""
        return getattr(self._local, "message", None)
