"""The deterministic context: values, recording, replay and bad input."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import wfcore
from wfcore import LocalRunner, RunStatus
from wfcore._history import Kind, decode_entry, is_operation
from wfcore._models import Batch, CommitResult
from wfcore.errors import (
    ConfigurationError,
    EncodeError,
    NotInWorkflowError,
    WorkflowFailedError,
)
from wfcore.store import DelegatingStore
from wfcore.store.memory import MemoryStore


def _kinds(runner: LocalRunner, workflow_id: str, invocation_id: str | None = None) -> list[str]:
    snap = runner.store.load(workflow_id, invocation_id or workflow_id, claim=False)
    assert snap is not None
    codec = runner.engine.codec
    operations = [e for e in snap.entries if is_operation(e)]
    return [decode_entry(codec, i, e, "test").kind for i, e in enumerate(operations)]


def test_replay_returns_recorded_values_without_calling_generators() -> None:
    # Given a workflow that draws every kind of value, then waits for a child
    runner = LocalRunner()
    calls: list[str] = []
    seen: list[tuple[Any, ...]] = []

    @runner.task
    def child() -> str:
        return "done"

    def make() -> None:
        calls.append("step")
        return None

    @runner.task
    def flow() -> tuple[Any, ...]:
        wf = flow.wf
        values = (
            wf.random(),
            wf.randint(1, 6),
            wf.choice(["a", "b", "c"]),
            wf.uuid(),
            wf.utc_now(),
            wf.deterministic("none", make),
            wf.is_replaying,
        )
        seen.append(values)
        wf.execute_task(child)
        return values

    # When it runs, suspends on the child and is replayed after the child finishes
    result = runner.run(flow)
    # Then the replay saw the same values, the step ran once, and a recorded None came back
    first, replay = seen
    assert first[:6] == replay[:6]
    assert result[:6] == first[:6]
    assert calls == ["step"]
    assert first[5] is None
    assert (first[6], replay[6]) == (False, True)


def test_one_sequence_across_kinds_keeps_kind_and_name() -> None:
    runner = LocalRunner()

    @runner.task
    def flow() -> None:
        wf = flow.wf
        wf.random()
        wf.set_data("k", 1)
        wf.uuid()
        wf.get_data("k")
        wf.deterministic("step", lambda: 1)
        wf.utc_now()

    workflow_id = runner.start(flow)
    runner.run_until_idle()
    assert _kinds(runner, workflow_id) == [
        Kind.RANDOM,
        Kind.SET_DATA,
        Kind.UUID,
        Kind.GET_DATA,
        Kind.DETERMINISTIC,
        Kind.UTC_NOW,
    ]


def test_uuid_is_rfc4122_v4_and_values_are_in_range() -> None:
    runner = LocalRunner()

    @runner.task
    def flow() -> list[Any]:
        wf = flow.wf
        return [(wf.uuid(), wf.random(), wf.randint(-3, 3), wf.choice((1, 2))) for _ in range(200)]

    rows = runner.run(flow)
    uuids = [uuid.UUID(u) for u, *_ in rows]
    assert all(u.version == 4 and u.variant == uuid.RFC_4122 for u in uuids)
    assert len(set(uuids)) == 200
    assert all(0.0 <= r < 1.0 for _, r, _, _ in rows)
    assert {n for _, _, n, _ in rows} == set(range(-3, 4))
    assert {c for *_, c in rows} == {1, 2}


def test_utc_now_is_aware_real_and_strictly_increasing() -> None:
    runner = LocalRunner()

    @runner.task
    def flow() -> list[datetime]:
        return [flow.wf.utc_now() for _ in range(500)]

    before = datetime.now(UTC)
    times = runner.run(flow)
    after = datetime.now(UTC)
    assert all(t.tzinfo is not None and t.utcoffset() is not None for t in times)
    assert all(a < b for a, b in itertools.pairwise(times))
    assert before <= times[0]
    assert times[-1] <= after + timedelta(milliseconds=1)


def test_parent_and_plain_child_never_share_values() -> None:
    # Pynenc 0.2 gave a plain child its parent's random values; ours must not.
    runner = LocalRunner()

    @runner.task
    def child() -> tuple[float, str]:
        return child.wf.random(), child.wf.uuid()

    @runner.task
    def parent() -> tuple[tuple[float, str], tuple[float, str], tuple[float, str]]:
        mine = (parent.wf.random(), parent.wf.uuid())
        first = parent.wf.execute_task(child).result
        second = parent.wf.execute_task(child).result
        return mine, tuple(first), tuple(second)

    mine, first, second = runner.run(parent)
    assert len({mine, first, second}) == 3


def test_two_workflows_of_one_task_draw_different_values() -> None:
    runner = LocalRunner()

    @runner.task
    def flow() -> float:
        return flow.wf.random()

    assert runner.run(flow) != runner.run(flow)


def test_recorded_step_exception_is_raised_again_on_replay() -> None:
    # Given a step that fails once, caught by the workflow, and a suspension afterwards
    runner = LocalRunner()
    runs: list[str] = []
    caught: list[str] = []

    def flaky() -> int:
        runs.append("ran")
        raise ValueError("card declined")

    @runner.task
    def child() -> None:
        return None

    @runner.task
    def flow() -> str:
        try:
            flow.wf.deterministic("charge", flaky)
        except ValueError as exc:
            caught.append(f"{type(exc).__name__}: {exc}")
        flow.wf.execute_task(child)
        return "ok"

    # When it runs to the end (one replay)
    assert runner.run(flow) == "ok"
    # Then the step ran once and both executions caught the same error
    assert runs == ["ran"]
    assert caught == ["ValueError: card declined"] * 2


def test_set_and_get_data_are_shared_by_plain_children_only() -> None:
    runner = LocalRunner()

    @runner.task
    def plain() -> Any:
        plain.wf.set_data("from_child", "plain")
        return plain.wf.get_data("status")

    @runner.task(force_new_workflow=True)
    def separate() -> Any:
        return separate.wf.get_data("status", default="unset")

    @runner.task
    def flow() -> tuple[Any, ...]:
        wf = flow.wf
        wf.set_data("status", {"step": 1, "at": datetime(2024, 1, 1, tzinfo=UTC)})
        seen_by_plain = wf.execute_task(plain).result
        seen_by_separate = wf.execute_task(separate).result
        return seen_by_plain, seen_by_separate, wf.get_data("from_child"), wf.get_data("x", 7)

    plain_saw, separate_saw, from_child, default = runner.run(flow)
    assert plain_saw == {"step": 1, "at": datetime(2024, 1, 1, tzinfo=UTC)}
    assert separate_saw == "unset"
    assert (from_child, default) == ("plain", 7)


def test_wf_outside_an_invocation_is_a_clear_error() -> None:
    runner = LocalRunner()

    @runner.task
    def flow() -> None:
        return None

    with pytest.raises(NotInWorkflowError, match="work only inside a task"):
        flow.wf.random()
    with pytest.raises(NotInWorkflowError):
        _ = flow.workflow
    with pytest.raises(NotInWorkflowError):
        wfcore.current()


@pytest.mark.parametrize(
    ("op", "message"),
    [
        (lambda wf: wf.set_data(1, "x"), "keys must be str"),
        (lambda wf: wf.get_data(("a",)), "keys must be str"),
        (lambda wf: wf.randint(5, 1), "a <= b"),
        (lambda wf: wf.randint(1.5, 3), "two ints"),
        (lambda wf: wf.choice([]), "non-empty"),
        (lambda wf: wf.deterministic(3, lambda: 1), "non-empty str name"),
        (lambda wf: wf.deterministic("x", 3), "callable"),
        (lambda wf: wf.execute_task(print), "not a wfcore task"),
    ],
)
def test_bad_arguments_get_typed_errors(op: Any, message: str) -> None:
    runner = LocalRunner()

    @runner.task
    def flow() -> None:
        op(flow.wf)

    workflow_id = runner.start(flow)
    runner.run_until_idle()
    with pytest.raises(WorkflowFailedError, match=message) as info:
        runner.engine.result(workflow_id)
    assert info.value.error_type == f"wfcore.errors.{ConfigurationError.__name__}"


def test_unencodable_data_fails_at_the_call_site_and_stores_nothing() -> None:
    # Given a workflow that stores a good value, then tries an unencodable one
    runner = LocalRunner()
    errors: list[EncodeError] = []

    @runner.task
    def flow() -> Any:
        flow.wf.set_data("good", 1)
        try:
            flow.wf.set_data("bad", object())
        except EncodeError as exc:
            errors.append(exc)
        return flow.wf.get_data("bad", "absent")

    # When it runs
    result = runner.run(flow)
    # Then the error names the operation and the type, and the bad key was never written
    assert "set_data('bad')" in str(errors[0])
    assert "object" in str(errors[0])
    assert result == "absent"


def test_keys_wfcore_keeps_for_itself_are_refused_and_nothing_is_stored() -> None:
    # Given a workflow that tries to write and read a key under wfcore's reserved prefix
    runner = LocalRunner()
    errors: list[str] = []

    @runner.task
    def flow() -> None:
        for op in (lambda: flow.wf.set_data("wfcore.dramatiq.reply", {"to": "me"}),
                   lambda: flow.wf.get_data("wfcore.x")):  # fmt: skip
            try:
                op()
            except ConfigurationError as exc:
                errors.append(str(exc))

    # When it runs
    workflow_id = runner.start(flow)
    runner.run_until_idle()
    # Then both are refused naming the prefix, and nothing was written
    assert len(errors) == 2
    assert all("reserves" in e and "'wfcore.'" in e for e in errors)
    assert runner.store.read_data(workflow_id, "wfcore.dramatiq.reply") is None


def test_oversized_value_is_refused() -> None:
    runner = LocalRunner()

    @runner.task
    def flow() -> str:
        try:
            flow.wf.set_data("blob", b"x" * (2 << 20))
        except EncodeError as exc:
            return str(exc)
        return "stored"

    message = runner.run(flow)
    assert "set_data('blob')" in message
    assert "limit" in message


def test_unencodable_step_result_fails_the_invocation_clearly() -> None:
    runner = LocalRunner()

    @runner.task
    def flow() -> None:
        flow.wf.deterministic("lambda", lambda: object())

    workflow_id = runner.start(flow)
    runner.run_until_idle()
    with pytest.raises(WorkflowFailedError, match=r"deterministic\('lambda'\)"):
        runner.engine.result(workflow_id)


def test_corrupted_history_entry_raises_decode_error() -> None:
    # Given a suspended workflow whose first recorded entry gets corrupted in the store
    runner = LocalRunner()

    @runner.task
    def child() -> int:
        return 1

    @runner.task
    def flow() -> float:
        value = flow.wf.random()
        flow.wf.execute_task(child)
        return value

    workflow_id = runner.start(flow)
    assert runner.step() is not None  # the parent runs and suspends
    store = runner.store
    entries = store._workflows[workflow_id].histories[workflow_id]  # type: ignore[attr-defined]
    first_operation = next(i for i, e in enumerate(entries) if is_operation(e))
    entries[first_operation] = b"\xc1garbage"
    # (behind the store's back: this process's history cache holds the good entry)
    runner.engine.histories.clear()
    # When the child finishes and the parent replays
    runner.run_until_idle()
    # Then the workflow fails with a DecodeError naming the entry, not a wrong value
    with pytest.raises(WorkflowFailedError, match="history entry 0") as info:
        runner.engine.result(workflow_id)
    assert info.value.error_type == "wfcore.errors.DecodeError"
    assert runner.results[-1][1].status is RunStatus.FAILED


class _CountingStore(DelegatingStore):
    """Counts commits and data reads that reach the store."""

    def __init__(self) -> None:
        super().__init__(MemoryStore())
        self.commits = 0
        self.reads = 0

    def commit(self, workflow_id: str, invocation_id: str, batch: Batch) -> CommitResult:
        self.commits += 1
        return super().commit(workflow_id, invocation_id, batch)

    def read_data(self, workflow_id: str, key: str) -> bytes | None:
        self.reads += 1
        return super().read_data(workflow_id, key)


def test_set_data_is_written_by_the_next_commit_and_read_back_before_it() -> None:
    # Given a workflow that sets a value, reads it back, then starts a child that reads it
    store = _CountingStore()
    runner = LocalRunner(store)
    first_run: list[Any] = []

    @runner.task
    def child() -> Any:
        return child.wf.get_data("k")

    @runner.task
    def flow() -> Any:
        wf = flow.wf
        wf.set_data("k", ("v", 1))
        mine = wf.get_data("k")
        if not wf.is_replaying:
            first_run.append(
                (mine, store.inner.read_data(wf.workflow.workflow_id, "k"), store.reads)
            )
        return wf.execute_task(child).result

    # When the workflow's first message runs
    workflow_id = runner.start(flow)
    runner.step()
    # Then its own read saw the value without a store read while nothing was stored yet, and
    # the value was written by the one commit that also recorded and suspended on the child
    assert first_run == [(("v", 1), None, 0)]
    assert store.commits == 1
    stored = store.inner.read_data(workflow_id, "k")
    assert stored is not None
    assert runner.engine.codec.decode(stored, what="test") == ("v", 1)
    # And the child, started after that commit, reads it
    runner.run_until_idle()
    assert runner.engine.result(workflow_id) == ("v", 1)
