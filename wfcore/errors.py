"""The whole wfcore error hierarchy: one root, ``WfError``, plus control-flow signals."""

from __future__ import annotations

from typing import Any

__all__ = [
    "CodecError",
    "ConfigurationError",
    "DeadlineExceededError",
    "DecodeError",
    "EncodeError",
    "FatalError",
    "InvalidCursorError",
    "NonDeterminismError",
    "NotInWorkflowError",
    "BulkRepairError",
    "RepairError",
    "RetryableError",
    "SignalTimeoutError",
    "StoreError",
    "StoreUnavailableError",
    "TaskFailedError",
    "WfError",
    "WorkflowCancelled",
    "WorkflowCancelledError",
    "WorkflowError",
    "WorkflowFailedError",
    "WorkflowNotFoundError",
    "WorkflowNotRunningError",
]


class WfError(Exception):
    """Base class of every error raised by wfcore."""

    def __init__(self, message: str, *args: Any) -> None:
        super().__init__(message, *args)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions with keyword-only state must say how to rebuild themselves so that
        # they cross process boundaries (dramatiq results, multiprocessing) intact.
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[WfError], args: tuple[Any, ...], state: dict[str, Any]) -> WfError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ConfigurationError(WfError):
    """The library is set up or called in a way that cannot work."""


class InvalidCursorError(ConfigurationError):
    """A listing cursor is malformed, was altered, or was made for another query."""


class RepairError(ConfigurationError):
    """A resume or fork cannot be done as asked: the workflow's state does not allow it."""


class BulkRepairError(RepairError):
    """A bulk resume or fork refused some workflows; the others were repaired."""

    def __init__(
        self,
        message: str,
        *,
        done: list[str] | None = None,
        errors: dict[str, WfError] | None = None,
    ) -> None:
        super().__init__(message)
        self.done = done or []
        self.errors = errors or {}


class NotInWorkflowError(WfError):
    """A ``wf`` operation was used outside a running workflow invocation."""


class NonDeterminismError(WfError):
    """A replay met a different operation than the one recorded at the same position."""

    def __init__(
        self,
        message: str,
        *,
        workflow_id: str = "",
        invocation_id: str = "",
        seq: int = -1,
        recorded: str = "",
        attempted: str = "",
    ) -> None:
        super().__init__(message)
        self.workflow_id = workflow_id
        self.invocation_id = invocation_id
        self.seq = seq
        self.recorded = recorded
        self.attempted = attempted


class CodecError(WfError):
    """Base class of encoding and decoding errors."""


class EncodeError(CodecError):
    """A value cannot be stored: unsupported type or over the size limit."""


class DecodeError(CodecError):
    """Stored bytes are corrupt or name a type that is not registered."""


class StoreError(WfError):
    """Base class of state-store errors."""


class StoreUnavailableError(StoreError):
    """The state store cannot be reached (connection refused, timeout, closed)."""


class WorkflowError(WfError):
    """Base class of errors about one workflow or task outcome."""


class WorkflowNotFoundError(WorkflowError):
    """No workflow with the given id exists in the store."""


class WorkflowNotRunningError(WorkflowError):
    """A signal went to a workflow that has finished (completed, failed or cancelled).

    ``status`` is the workflow's status (its value, e.g. ``"COMPLETED"``).
    """

    def __init__(self, message: str, *, workflow_id: str = "", status: str = "") -> None:
        super().__init__(message)
        self.workflow_id = workflow_id
        self.status = status


class SignalTimeoutError(WorkflowError):
    """``wf.wait_signal(name, timeout=...)`` without a ``default`` timed out."""

    def __init__(self, message: str, *, name: str = "", timeout: float = 0.0) -> None:
        super().__init__(message)
        self.name = name
        self.timeout = timeout


class TaskFailedError(WorkflowError):
    """A child task failed permanently; raised in the parent that waited for it."""

    def __init__(
        self,
        message: str,
        *,
        task_name: str = "",
        invocation_id: str = "",
        error_type: str = "",
        error_message: str = "",
        traceback: str = "",
    ) -> None:
        super().__init__(message)
        self.task_name = task_name
        self.invocation_id = invocation_id
        self.error_type = error_type
        self.error_message = error_message
        self.traceback = traceback


class WorkflowFailedError(WorkflowError):
    """The workflow ended with an unhandled error; raised by ``handle.result()``."""

    def __init__(
        self,
        message: str,
        *,
        workflow_id: str = "",
        error_type: str = "",
        error_message: str = "",
        traceback: str = "",
    ) -> None:
        super().__init__(message)
        self.workflow_id = workflow_id
        self.error_type = error_type
        self.error_message = error_message
        self.traceback = traceback


class DeadlineExceededError(WorkflowError):
    """A workflow ran past its ``max_duration``; it is failed, even while suspended."""

    def __init__(self, message: str, *, workflow_id: str = "", deadline: float = 0.0) -> None:
        super().__init__(message)
        self.workflow_id = workflow_id
        self.deadline = deadline


class WorkflowCancelledError(WorkflowError):
    """The workflow was cancelled; raised by ``handle.result()``."""

    def __init__(self, message: str, *, workflow_id: str = "") -> None:
        super().__init__(message)
        self.workflow_id = workflow_id


class FatalError(WfError):
    """Raise from a task to fail it at once, without any retry."""


class RetryableError(WfError):
    """Raise from a task to have it retried after ``delay`` seconds (or ``retry_after``:
    seconds, a ``timedelta`` or a string like "30s", "5m", as PyWorkflow spells it)."""

    def __init__(
        self,
        message: str = "retry requested",
        *,
        delay: float | None = None,
        retry_after: object = None,
    ) -> None:
        super().__init__(message)
        if retry_after is not None:
            if delay is not None:
                raise ConfigurationError("RetryableError takes delay= or retry_after=, not both")
            from wfcore._durations import to_seconds  # it raises ConfigurationError (above)

            try:
                delay = to_seconds(retry_after)
            except ConfigurationError as exc:
                raise ConfigurationError(
                    f"RetryableError(retry_after={retry_after!r}): {exc}".replace("wf.sleep ", "")
                ) from None
        self.delay = delay


class WorkflowCancelled(BaseException):
    """Delivered at the next ``wf`` operation of a cancelled workflow so cleanup code runs.

    Derives from ``BaseException`` so ``except Exception`` in user code cannot swallow it.
    """

    def __init__(self, workflow_id: str = "") -> None:
        super().__init__(workflow_id)
        self.workflow_id = workflow_id
