"""B2's non-waiting workflow operations, shared by every B2 body (sync, async, Dramatiq, local)."""

from __future__ import annotations

from typing import Any

__all__ = ["b2_async", "b2_between", "b2_sync"]


def b2_between(wf: Any, stage: int) -> dict[str, Any]:
    """The B2 workflow's non-waiting operations before child ``stage`` (3: before the last,
    after the step): 9 of its 10 operations, the same in the sync and the async body."""
    if stage == 0:
        wf.set_data("stage", "started")
        return {"noise": wf.random(), "ids": [wf.uuid()], "started": wf.utc_now()}
    if stage == 1:
        dice = wf.randint(1, 6)
        second_id = wf.uuid()
        wf.set_data("stage", "halfway")
        return {"dice": dice, "second_id": second_id}
    if stage == 2:
        return {"colour": wf.choice(["red", "green", "blue"])}
    return {"finished": wf.utc_now()}


def b2_sync(wf: Any, step: Any, n: int) -> dict[str, Any]:
    """The sync B2 body: 3 sequential children of ``step``, a step, 9 plain operations."""
    ops = b2_between(wf, 0)  # random, uuid, utc_now, set_data
    a = wf.execute_task(step, n).result
    ops |= b2_between(wf, 1)  # randint, uuid, set_data
    b = wf.execute_task(step, a).result
    ops |= b2_between(wf, 2)  # choice
    doubled = wf.deterministic("double", lambda: b * 2)
    ops |= b2_between(wf, 3)  # utc_now
    ops["value"] = wf.execute_task(step, doubled).result
    return ops


async def b2_async(wf: Any, step: Any, n: int) -> dict[str, Any]:
    """The same work as an async body: every wait awaited."""
    ops = b2_between(wf, 0)
    a = (await wf.execute_task(step, n)).result
    ops |= b2_between(wf, 1)
    b = (await wf.execute_task(step, a)).result
    ops |= b2_between(wf, 2)
    doubled = await wf.deterministic("double", lambda: b * 2)
    ops |= b2_between(wf, 3)
    ops["value"] = (await wf.execute_task(step, doubled)).result
    return ops
