"""B2/B3's async variants, declared on the benchmark App by ``benchmarks._bench_app``.

- ``b2_workflow_async(n)``: the B2 workflow as an async workflow body: the same 3 sequential
  children (``await wf.execute_task``) and 10 ``wf`` operations, the same 7 messages.
- ``b3_parent_async(run, n, work_ms)``: B3's fan-out as an async body: ``wf.start_task`` n
  times, then one ``await wf.wait(*handles)``.
- ``b3_gather(run, n, work_ms)``: the same fan-out joined with ``asyncio.gather`` over n
  ``wf.execute_task`` calls (one wake-up per batch of outcomes, not one for all).

The parents count their body runs and their passes past the join with ``count(run, name)``
(a raw Redis ``INCR``), as the sync ``b3_parent`` does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from benchmarks._b2_ops import b2_async

if TYPE_CHECKING:
    from wfcore_dramatiq import App, DramatiqTask

__all__ = ["AsyncVariants", "declare"]


@dataclass(frozen=True, slots=True)
class AsyncVariants:
    """The async tasks of B2 and B3 (see the module docstring)."""

    b2_workflow: DramatiqTask[..., Any]
    b3_parent: DramatiqTask[..., Any]
    b3_gather: DramatiqTask[..., Any]


def declare(
    app: App,
    b2_step: DramatiqTask[..., Any],
    b3_child: DramatiqTask[..., Any],
    count: Callable[[str, str], None],
) -> AsyncVariants:
    """Declare the async variants on ``app`` (B2's body is ``benchmarks._b2_ops.b2_async``,
    the same work as the sync ``b2_sync``)."""

    @app.task(workflow=True)
    async def b2_workflow_async(n: int) -> dict[str, Any]:
        """Root message + 3 child messages + 3 wake messages = 7 messages; 10 wf operations."""
        return await b2_async(b2_workflow_async.wf, b2_step, n)

    @app.task(workflow=True)
    async def b3_parent_async(run: str, n: int, work_ms: float) -> int:
        wf = b3_parent_async.wf
        count(run, "body_runs")
        results = await wf.wait(*[wf.start_task(b3_child, i, work_ms) for i in range(n)])
        count(run, "resumed")  # once per workflow: only reached when every child is done
        return sum(int(r.result) for r in results)

    @app.task(workflow=True)
    async def b3_gather(run: str, n: int, work_ms: float) -> int:
        wf = b3_gather.wf
        count(run, "body_runs")
        calls = [wf.execute_task(b3_child, i, work_ms) for i in range(n)]
        results = await asyncio.gather(*calls)
        count(run, "resumed")
        return sum(int(r.result) for r in results)

    return AsyncVariants(b2_workflow_async, b3_parent_async, b3_gather)
