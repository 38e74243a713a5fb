"""``WorkflowContext``: the deterministic context (``task.wf``) of the invocation running now."""

from __future__ import annotations

import logging

from wfcore.context.children import Children
from wfcore.context.continuing import Continuing
from wfcore.context.data import Data
from wfcore.context.logger import ReplayAwareLogger
from wfcore.context.signals import Signals
from wfcore.context.steps import Steps
from wfcore.context.timers import Timers
from wfcore.context.values import Values

__all__ = ["WorkflowContext"]


class WorkflowContext(Values, Timers, Steps, Data, Signals, Children, Continuing):
    """Deterministic operations of one invocation; what ``task.wf`` returns.

    Every operation takes the next position (``seq``) in the invocation's history. On first
    execution its value is recorded; on replay the recorded value comes back and the
    operation's kind and name must match the recorded ones.
    """

    @property
    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger for workflow code that stays quiet while the code replays.

        Records carry ``workflow_id``, ``invocation_id``, ``task``, ``seq`` and ``attempt`` in
        ``extra``. Lines the code logs while ``is_replaying`` is True (before the point an
        earlier execution reached, and throughout verification) are not repeated.
        """
        if self._logger is None:
            self._logger = ReplayAwareLogger(self)
        return self._logger
