"""``wf.continue_as_new``: end this run and continue the same workflow with a fresh history.

A workflow that loops forever (an entity, a poller) would otherwise grow one history without
end, and every resume replays all of it. ``continue_as_new(*args, **kwargs)`` ends the run
(the root invocation completes with a marker outcome, ``continued_run``), and the store, in
the same atomic write, makes a new root invocation, run ``n + 1``, the workflow's root: same
workflow id, type, data, buffered signals, parent and deadline, an empty history, these
arguments. The engine commits it (see :mod:`wfcore.engine.continuing`).
"""

from __future__ import annotations

from typing import Any, NoReturn

from wfcore._identity import run_invocation_id, run_of
from wfcore.context.replaying import Replaying
from wfcore.context.runtime import _ContinueAsNew
from wfcore.errors import ConfigurationError

__all__ = ["Continuing", "continued_run", "run_invocation_id", "run_of"]


def continued_run(invocation_id: str, run: int) -> dict[str, Any]:
    """The outcome value of a run that continued as new into ``invocation_id``, run ``run``."""
    return {"continued_as_new": {"run": run, "invocation_id": invocation_id}}


class Continuing(Replaying):
    """``continue_as_new`` for a workflow's root invocation."""

    @property
    def run(self) -> int:
        """Which run of the workflow this is: 1, then one more per ``continue_as_new``."""
        return run_of(self.invocation_id)[1]

    def continue_as_new(self, *args: Any, **kwargs: Any) -> NoReturn:
        """End this run and continue the workflow as new with these arguments.

        The same task runs again as run ``wf.run + 1`` of the same workflow (same id, data,
        buffered signals, parent, deadline) with an empty history; ``handle.result()`` is
        the last run's result. Call it with no child or timer still awaited (those would
        be left to themselves). Never returns; in an async body it is called, not awaited.

        Raises:
            ConfigurationError: not in a workflow's root invocation (a child task returns
                instead), or the arguments cannot be encoded.
        """
        self._check()
        inv = self._invocation
        if inv.parent_invocation_id is not None and inv.parent_workflow_id == inv.workflow_id:
            raise ConfigurationError(
                f"{self._where}: only a workflow's root invocation can continue_as_new; "
                "a child task returns and its caller loops instead"
            )
        self._cancel_point()  # a pending cancellation wins: the workflow is cancelled
        args_data = self._rt.codec.encode(
            [list(args), kwargs], what=f"arguments of continue_as_new of {self.task_name!r}"
        )
        self._fatal = _ContinueAsNew(args_data)
        raise self._fatal
