"""What an action produced (``Result``) and what a run went through (``TraceEntry``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = ["Result", "TraceEntry"]


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of one action: truthy when it returned, falsy when it raised.

    Attributes:
        ok: True when the action returned normally.
        value: what it returned (None when it raised).
        error: the exception it raised (None when it returned).
        payload: the payload the step ran with (decisions that retry need it).
    """

    ok: bool
    value: Any = None
    error: BaseException | None = None
    payload: Any = None

    def __bool__(self) -> bool:
        return self.ok

    @classmethod
    def success(cls, value: Any, payload: Any = None) -> Result:
        """A result of an action that returned ``value``."""
        return cls(True, value, None, payload)

    @classmethod
    def failure(cls, error: BaseException, payload: Any = None) -> Result:
        """A result of an action that raised ``error``."""
        return cls(False, None, error, payload)


class TraceEntry(NamedTuple):
    """One executed step of a run, in order: its name, its payload and its result."""

    step: str
    payload: Any
    result: Result
