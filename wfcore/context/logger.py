"""``wf.logger``: a logger that stays quiet while its invocation replays."""

from __future__ import annotations

import logging
from typing import Any

from wfcore.context.replaying import Replaying

__all__ = ["ReplayAwareLogger"]


class ReplayAwareLogger(logging.LoggerAdapter[logging.Logger]):
    """Drops records while its invocation replays; adds the invocation's ids to ``extra``."""

    def __init__(self, ctx: Replaying) -> None:
        super().__init__(logging.getLogger(f"wfcore.task.{ctx.task_name}"), {})
        self._ctx = ctx

    def isEnabledFor(self, level: int) -> bool:
        return not self._ctx.is_replaying and self.logger.isEnabledFor(level)

    def process(self, msg: object, kwargs: Any) -> tuple[object, Any]:
        ctx = self._ctx
        kwargs["extra"] = {
            **ctx.log_extra(),
            **(kwargs.get("extra") or {}),
        }
        return msg, kwargs
