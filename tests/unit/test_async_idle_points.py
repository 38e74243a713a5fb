"""What an async body's idle points record: nothing for one wait alone (as a sync wait),
``resumed('several')`` naming the waits delivered among several; the wait delivered as it
is awaited; and histories of earlier versions (``resumed()`` for one wait alone) still
replaying."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from wfcore import LocalRunner, Replayer
from wfcore._history import Kind
from wfcore._models import WorkflowStatus
from wfcore.context import awaiting
from wfcore.context.aio_loop import Wait
from wfcore.errors import WorkflowCancelled, WorkflowFailedError


def _verify(runner: LocalRunner, workflow_id: str) -> None:
    result = Replayer(runner._lookup).replay(runner.store, workflow_id)
    assert result.ok, result.divergence


def _operations(runner: LocalRunner, workflow_id: str) -> list[tuple[str, str]]:
    """The root invocation's operations: (kind, name without the test's qualified prefix)."""
    return [
        (e.kind, e.name.rpartition(".")[2])
        for e in runner.engine.history(workflow_id)
        if e.seq is not None and e.invocation_id == workflow_id
    ]


def test_a_sequential_async_body_records_what_its_sync_twin_records() -> None:
    runner = LocalRunner()

    @runner.task
    def step(x: int) -> int:
        return x + 1

    @runner.task(workflow=True)
    async def as_async(n: int) -> list[Any]:
        wf = as_async.wf
        a = (await wf.execute_task(step, n)).result
        draw = wf.random()
        b = (await wf.execute_task(step, a)).result
        c = await wf.deterministic("double", lambda: b * 2)
        return [a, b, c, draw]

    @runner.task
    def as_sync(n: int) -> list[Any]:
        wf = as_sync.wf
        a = wf.execute_task(step, n).result
        draw = wf.random()
        b = wf.execute_task(step, a).result
        c = wf.deterministic("double", lambda: b * 2)
        return [a, b, c, draw]

    ids = {name: runner.start(task, 1) for name, task in (("async", as_async), ("sync", as_sync))}
    runner.run_until_idle()
    assert runner.engine.result(ids["async"])[:3] == [2, 3, 6]
    # The same operations in the same order: no entry for a wait delivered alone
    assert _operations(runner, ids["async"]) == _operations(runner, ids["sync"])
    assert Kind.RESUMED not in [kind for kind, _ in _operations(runner, ids["async"])]
    _verify(runner, ids["async"])


def test_waits_delivered_among_several_are_named_by_a_resumed_entry() -> None:
    runner = LocalRunner()

    @runner.task
    def leaf(i: int) -> int:
        return i

    @runner.task(workflow=True)
    async def first_of_two() -> list[int]:
        wf = first_of_two.wf
        fast = asyncio.ensure_future(wf.execute_task(leaf, 1))
        slow = asyncio.ensure_future(wf.wait_signal("go"))
        done, _ = await asyncio.wait({fast, slow}, return_when=asyncio.FIRST_COMPLETED)
        got = [fast.result().result] if fast in done else []
        return [*got, await slow]

    workflow_id = runner.start(first_of_two)
    runner.run_until_idle()
    runner.signal(workflow_id, "go", 2)
    runner.run_until_idle()
    assert runner.engine.result(workflow_id) == [1, 2]
    resumed = [e for e in runner.engine.history(workflow_id) if e.kind == Kind.RESUMED]
    assert [(e.name, e.value) for e in resumed] == [(awaiting.SEVERAL, [0])]
    _verify(runner, workflow_id)


def test_a_wait_alone_then_waits_among_several_at_the_same_position_replay() -> None:
    # The wait on `first`, delivered alone, records nothing: the `resumed` entry at that
    # position is the later gather's, and a replay must not take it for the first wait's.
    runner = LocalRunner()

    @runner.task
    def leaf(i: int) -> int:
        return i

    @runner.task(workflow=True)
    async def body() -> list[int]:
        wf = body.wf
        first, second, third = (wf.start_task(leaf, i) for i in range(3))
        one = await first.result()
        rest = await asyncio.gather(second.result(), third.result())
        return [one, *rest]

    workflow_id = runner.start(body)
    runner.run_until_idle()
    assert runner.engine.result(workflow_id) == [0, 1, 2]
    assert _operations(runner, workflow_id)[3] == (Kind.RESUMED, awaiting.SEVERAL)
    _verify(runner, workflow_id)


def test_a_cancellation_at_a_wait_delivered_alone_before_replays_there() -> None:
    # As for a sync wait: a cancellation requested while the body waits is delivered at the
    # first wait of the next run past the recorded operations, and every replay agrees.
    runner = LocalRunner()

    @runner.task
    def quick() -> str:
        return "quick"

    @runner.task
    def blocked() -> Any:
        return blocked.wf.wait_signal("never")

    @runner.task(workflow=True)
    async def body() -> list[str]:
        wf = body.wf
        fast, slow = wf.start_task(quick), wf.start_task(blocked)
        try:
            return [await fast.result(), await slow.result()]
        except WorkflowCancelled:
            wf.set_data("cancelled at", "a wait")
            raise

    workflow_id = runner.start(body)
    runner.run_until_idle()  # `fast` delivered alone, suspended on `slow`
    assert _operations(runner, workflow_id) == [
        (Kind.START_TASK, "quick"),
        (Kind.START_TASK, "blocked"),
    ]
    runner.engine.cancel(workflow_id)
    runner.run_until_idle()
    assert runner.store.get_workflow(workflow_id).status is WorkflowStatus.CANCELLED  # type: ignore[union-attr]
    # Delivered at the first wait past the recorded operations (the one on `fast`), recorded
    # there, and taken there by the replay
    assert _operations(runner, workflow_id)[2:] == [
        (Kind.CANCELLED, ""),
        (Kind.SET_DATA, "cancelled at"),
    ]
    _verify(runner, workflow_id)


def test_a_cancellation_the_task_asked_for_itself_still_arrives_at_the_await() -> None:
    # The wait is ready when awaited on replays, but the task's own cancel() must hit that
    # await as it did on the first run (a pass through the loop, not delivery on the spot).
    runner = LocalRunner()

    @runner.task
    def step(x: int) -> int:
        return x + 1

    @runner.task(workflow=True)
    async def body() -> list[Any]:
        wf = body.wf
        handle = wf.start_task(step, 1)
        asyncio.current_task().cancel()  # type: ignore[union-attr]
        try:
            first: Any = await handle.result()
        except asyncio.CancelledError:
            first = wf.random()  # recorded: the path taken must be the same on every run
        return [first, await handle.result()]

    workflow_id = runner.start(body)
    runner.run_until_idle()
    first, second = runner.engine.result(workflow_id)
    assert isinstance(first, float)
    assert second == 2
    _verify(runner, workflow_id)


@contextlib.contextmanager
def _recording_as_earlier_versions(
    monkeypatch: pytest.MonkeyPatch, value: Callable[[Wait], Any] = lambda w: list(w.seqs)
) -> Iterator[None]:
    """Record, meanwhile, a ``resumed('', value(wait))`` entry for a wait delivered alone,
    as versions before this one did (a run records its own history as it goes)."""
    plain_idle_point = awaiting.Awaiting._idle_point

    def recording_every_delivery(ctx: awaiting.Awaiting, waits: list[Wait]) -> None:
        live = ctx._seq >= len(ctx._entries)
        if live and len(waits) == 1 and all(s in ctx._outcomes for s in waits[0].seqs):
            ctx._record(Kind.RESUMED, "", value(waits[0]))
            ctx._deliver(ctx._loop(), waits)
            return
        plain_idle_point(ctx, waits)

    with monkeypatch.context() as earlier:
        earlier.setattr(awaiting.Awaiting, "_idle_point", recording_every_delivery)
        earlier.setattr(awaiting.Awaiting, "_delivers_now", lambda ctx, wait: False)
        yield


def _two_steps_then_a_signal() -> tuple[LocalRunner, Any]:
    runner = LocalRunner()

    @runner.task
    def step(x: int) -> int:
        return x + 1

    @runner.task(workflow=True)
    async def body(n: int) -> list[Any]:
        wf = body.wf
        a = (await wf.execute_task(step, n)).result
        b = (await wf.execute_task(step, a)).result
        return [a, b, await wf.wait_signal("go")]

    return runner, body


def test_a_history_recorded_by_an_earlier_version_replays_and_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner, body = _two_steps_then_a_signal()
    # Given a body recorded as earlier versions did: a `resumed()` entry for a wait alone
    with _recording_as_earlier_versions(monkeypatch):
        workflow_id = runner.start(body, 1)
        runner.run_until_idle()
    resumed = [e for e in runner.engine.history(workflow_id) if e.kind == Kind.RESUMED]
    assert [(e.name, e.value) for e in resumed] == [("", [0]), ("", [2])]
    # When this version replays it and runs it on
    _verify(runner, workflow_id)
    runner.signal(workflow_id, "go", "went")
    runner.run_until_idle()
    # Then the recorded entries are taken where they were recorded, and it completes
    assert runner.engine.result(workflow_id) == [2, 3, "went"]
    _verify(runner, workflow_id)


def test_a_corrupt_resumed_entry_fails_the_run_with_a_decode_error_and_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner, body = _two_steps_then_a_signal()
    # Given a history whose `resumed` entry names no positions
    with _recording_as_earlier_versions(monkeypatch, value=lambda wait: "not positions"):
        workflow_id = runner.start(body, 1)
        runner.step()
        runner.step()
        runner.step()  # the step, then the body: it records the corrupt entry and goes on
    # When the body replays it
    runner.run_until_idle()
    # Then the run fails with an error naming the entry, and the history is as it was
    with pytest.raises(WorkflowFailedError, match=r"DecodeError.*resumed\) names 'not pos"):
        runner.engine.result(workflow_id)
    resumed = [e.value for e in runner.engine.history(workflow_id) if e.kind == Kind.RESUMED]
    assert resumed[0] == "not positions"
