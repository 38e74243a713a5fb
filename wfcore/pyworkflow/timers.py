"""``wfcore.sleep``: PyWorkflow's ``await sleep("1d" | timedelta | datetime)``, durable."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import Any, cast

from wfcore._current import current_or_none
from wfcore.errors import ConfigurationError
from wfcore.pyworkflow.body import in_workflow_body

__all__ = ["sleep"]


def sleep(duration: str | float | timedelta | datetime) -> Awaitable[None]:
    """Sleep durably in an async workflow body: ``await wfcore.sleep("1d")``.

    The workflow suspends (no worker, thread or process held) and resumes on any worker once
    the time has come; ``wf.sleep`` / ``wf.sleep_until`` under another name.

    Args:
        duration: "5s", "10m", "2h", "3d", "1h30m", seconds, a ``timedelta``, or a tz-aware
            ``datetime`` to sleep until.

    Raises:
        ConfigurationError: not called from an async workflow body (``@app.workflow``), a
            naive ``datetime``, an unreadable duration.
    """
    ctx = current_or_none()
    if ctx is None or not in_workflow_body():
        raise ConfigurationError(
            "await wfcore.sleep(...) is a durable timer of an async workflow body "
            "(@app.workflow, or @app.task(force_new_workflow=True) on an async def); in a "
            "step use asyncio.sleep, in a sync task wf.sleep(...)"
        )
    if isinstance(duration, datetime):
        return cast("Awaitable[None]", ctx.sleep_until(duration))
    waited: Any = ctx.sleep(duration)
    return cast("Awaitable[None]", waited)
