"""What a workflow is made of: scopes, execution modes, step specs and their stored form."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from wfcore.errors import ConfigurationError

__all__ = ["ExecutionMode", "Scope", "StepSpec", "StepFunction", "task_name_of"]

StepFunction = Callable[[dict[str, Any]], Any]
"""``async def step(ctx)`` or ``def step(ctx)``; its return value becomes ``ctx[name]``."""


class Scope(Enum):
    """When a step runs."""

    NORMAL = "normal"
    """In order, as the main flow."""
    ERROR = "error"
    """After a NORMAL step failed (without ``cont_on_err``), with ``ctx["normal_error"]``."""
    EXIT = "exit"
    """Always at the end: after success, failure, and cancellation."""


class ExecutionMode(Enum):
    """Accepted for compatibility with st-workflow: every step runs as its own task on the
    App's workers (threads of worker processes), whatever the mode."""

    THREAD = "thread"
    PROCESS = "process"


@dataclass(frozen=True, slots=True)
class StepSpec:
    """One step as the driver sees it: the registered task name(s) of its function(s)."""

    name: str
    scope: Scope
    tasks: tuple[str, ...]
    parallel: bool = False
    timeout: float | None = None
    retries: int = 0
    cont_on_err: bool = False

    def to_data(self) -> dict[str, Any]:
        """The stored form (an argument of the driver, kept in the workflow's record)."""
        return {
            "name": self.name,
            "scope": self.scope.value,
            "tasks": list(self.tasks),
            "parallel": self.parallel,
            "timeout": self.timeout,
            "retries": self.retries,
            "cont_on_err": self.cont_on_err,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> StepSpec:
        """Back from ``to_data``."""
        return cls(
            name=data["name"],
            scope=Scope(data["scope"]),
            tasks=tuple(data["tasks"]),
            parallel=bool(data["parallel"]),
            timeout=data["timeout"],
            retries=int(data["retries"]),
            cont_on_err=bool(data["cont_on_err"]),
        )


def check_options(name: str, scope: Any, timeout: Any, retries: Any) -> None:
    """Refuse options that cannot work, naming the step.

    Raises:
        ConfigurationError: a bad scope, timeout or retry count.
    """
    if not isinstance(scope, Scope):
        raise ConfigurationError(f"step {name!r}: scope must be a Scope, got {scope!r}")
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise ConfigurationError(
            f"step {name!r}: timeout must be a positive number of seconds or None, got {timeout!r}"
        )
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigurationError(f"step {name!r}: retries must be an int >= 0, got {retries!r}")


def step_name_of(func: Any, name: str | None) -> str:
    """The step's name (its key in ``ctx``): ``name`` or the function's ``__name__``."""
    if name is not None:
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"a step name must be a non-empty str, got {name!r}")
        return name
    found = getattr(func, "__name__", None)
    if not isinstance(found, str):
        raise ConfigurationError(f"pass name= for step {func!r}: it has no __name__")
    return found


def task_name_of(func: Any) -> str:
    """The stable name a step function is registered under: ``steps:<module>.<qualname>``.

    Raises:
        ConfigurationError: not a function or method (a ``functools.partial``, a lambda...).
    """
    if not callable(func):
        raise ConfigurationError(f"a step must be a function taking ctx, got {func!r}")
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        raise ConfigurationError(
            f"step {func!r} has no __module__/__qualname__: define it with def or async def"
        )
    if qualname.endswith("<lambda>"):
        raise ConfigurationError(
            f"step {func!r} is a lambda: workers find steps by qualified name, so define it "
            "with def or async def"
        )
    return f"steps:{module}.{qualname}"


def split(steps: Sequence[StepSpec]) -> dict[Scope, list[StepSpec]]:
    """The steps of each scope, in the order they were added."""
    out: dict[Scope, list[StepSpec]] = {scope: [] for scope in Scope}
    for step in steps:
        out[step.scope].append(step)
    return out
