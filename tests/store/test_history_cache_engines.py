"""The engine's history cache on every store: two engines advancing one workflow, repairs,
a purge and a new start under the same id, stores without ``load_since``, the bounds. No
resume may ever replay from stale data (a divergence, a wrong value or a repeated child)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.store.conftest import StoreUnderTest
from wfcore import LocalRunner, Replayer
from wfcore._history_cache import HistoryCache
from wfcore._models import WorkflowStatus
from wfcore.store import StateStore
from wfcore.store._delegating import DelegatingStore


def _app(store: StateStore, runs: Counter[int], fail: dict[str, bool]) -> LocalRunner:
    runner = LocalRunner(store)

    @runner.task(name="hc.child")
    def child(n: int) -> int:
        runs[n] += 1
        if fail.get("child") and n == 2:
            raise ValueError("child 2 broke")
        return n * 10

    @runner.task(name="hc.flow")
    def flow(n: int) -> list[Any]:
        wf = flow.wf
        out: list[Any] = []
        for i in range(n):
            out.append(wf.random())
            out.append(wf.execute_task(child, i).result)
            out.append(wf.deterministic("d", lambda i=i: {"i": i}))  # not shareable
        return out

    return runner


def _start(runner: LocalRunner, n: int, workflow_id: str | None = None) -> str:
    record, _ = runner.engine.start(runner._lookup("hc.flow"), (n,), workflow_id=workflow_id)
    return record.workflow_id


def _hand_over(source: LocalRunner, target: LocalRunner) -> None:
    """Messages queued in ``source`` go to ``target`` (another worker takes them)."""
    target._queue.extend(source._queue)
    source._queue.clear()


def _check(runner: LocalRunner, store: StateStore, workflow_id: str, n: int) -> list[Any]:
    result = runner.engine.result(workflow_id)
    assert [result[3 * i + 1] for i in range(n)] == [i * 10 for i in range(n)]
    assert [result[3 * i + 2] for i in range(n)] == [{"i": i} for i in range(n)]
    replayed = Replayer(runner._lookup, codec=runner.engine.codec).replay(store, workflow_id)
    assert replayed.ok, replayed.divergence
    return result  # type: ignore[no-any-return]


def test_two_engines_advancing_one_workflow(backend: StoreUnderTest) -> None:
    # Given two engines (own caches) on one store, taking turns with a workflow's messages
    runs: Counter[int] = Counter()
    store_a, store_b = backend.make(), backend.make()
    a, b = _app(store_a, runs, {}), _app(store_b, runs, {})
    try:
        workflow_id = _start(a, 6)
        turn = 0
        while a._queue or b._queue:
            runner, other = (a, b) if (turn // 2) % 2 else (b, a)
            _hand_over(other, runner)
            runner.step()
            turn += 1
        # Then each child ran once, values replayed as recorded, and both caches were used
        _check(a, store_a, workflow_id, 6)
        assert runs == Counter(dict.fromkeys(range(6), 1))
        assert a.engine.histories.hits > 0
        assert b.engine.histories.hits > 0
    finally:
        store_a.close()
        store_b.close()


def test_a_repair_is_replayed_from_the_store(backend: StoreUnderTest) -> None:
    # Given a workflow that failed (child 2 broke) with its root's history cached
    runs: Counter[int] = Counter()
    fail = {"child": True}
    store = backend.make()
    runner = _app(store, runs, fail)
    try:
        workflow_id = _start(runner, 4)
        runner.run_until_idle()
        assert store.get_workflow(workflow_id).status is WorkflowStatus.FAILED  # type: ignore[union-attr]
        # When the bug is fixed and the workflow resumed (its history rewritten)
        fail["child"] = False
        misses = runner.engine.histories.misses
        runner.engine.resume(workflow_id)
        runner.run_until_idle()
        # Then the root's next load was in full, and it completed correctly
        assert runner.engine.histories.misses > misses
        _check(runner, store, workflow_id, 4)
        assert runs == Counter({0: 1, 1: 1, 2: 2, 3: 1})
    finally:
        store.close()


def test_a_new_workflow_under_a_purged_id(backend: StoreUnderTest) -> None:
    # Given a finished workflow with an id, its root's history cached, then purged
    runs: Counter[int] = Counter()
    store = backend.make()
    runner = _app(store, runs, {})
    try:
        _start(runner, 3, "same-id")
        runner.run_until_idle()
        first = runner.engine.result("same-id")
        assert store.purge_finished(["same-id"], before=float("inf")) == 1
        # When a longer workflow starts under the same id
        _start(runner, 5, "same-id")
        runner.run_until_idle()
        # Then it ran from its own history: new values, every child run again
        second = _check(runner, store, "same-id", 5)
        assert second[0] != first[0]
        assert runs == Counter({0: 2, 1: 2, 2: 2, 3: 1, 4: 1})
    finally:
        store.close()


def test_a_store_without_load_since_is_read_in_full() -> None:
    # Given a store wrapped by a DelegatingStore (which does not offer load_since)
    from wfcore.store.memory import MemoryStore

    runs: Counter[int] = Counter()
    store = DelegatingStore(MemoryStore())
    runner = _app(store, runs, {})
    workflow_id = _start(runner, 3)
    runner.run_until_idle()
    _check(runner, store, workflow_id, 3)
    assert len(runner.engine.histories) == 0
    assert runner.engine.histories.hits == 0


@pytest.mark.parametrize(("count", "size"), [(1, 1 << 30), (100, 2_000), (0, 1 << 30)])
def test_the_cache_stays_within_its_bounds(count: int, size: int) -> None:
    # Given a cache bounded by count or by bytes
    from wfcore.store.memory import MemoryStore

    runs: Counter[int] = Counter()
    runner = _app(MemoryStore(), runs, {})
    runner.engine.histories = HistoryCache(max_invocations=count, max_bytes=size)
    ids = [_start(runner, 3) for _ in range(4)]
    # When several workflows run
    runner.run_until_idle()
    # Then it never holds more, and every workflow completed correctly
    cache = runner.engine.histories
    assert len(cache) <= count
    assert cache.size <= size
    for workflow_id in ids:
        _check(runner, runner.store, workflow_id, 3)
