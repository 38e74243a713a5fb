"""Where PyWorkflow-style code runs: inside an async workflow body or not."""

from __future__ import annotations

import asyncio

from wfcore.context.aio_loop import DeterministicLoop

__all__ = ["in_workflow_body"]


def in_workflow_body() -> bool:
    """True when the caller runs on an async workflow body's deterministic loop (where a
    step call is a recorded child and ``sleep`` a durable timer)."""
    try:
        return isinstance(asyncio.get_running_loop(), DeterministicLoop)
    except RuntimeError:  # no running loop: plain code
        return False
