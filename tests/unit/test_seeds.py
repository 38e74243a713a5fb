"""Secret per-workflow seeds: ``wf.random``/``wf.uuid`` cannot be predicted from ids or keys,
replays and re-runs repeat values, and workflows recorded before seeds keep their values."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import pytest

from wfcore import LocalRunner, Task, export_history, import_history
from wfcore._models import Batch, CommitResult, InvocationRecord, InvocationRef, WorkflowRecord
from wfcore._replay import Replayer
from wfcore.store import DelegatingStore
from wfcore.store.memory import MemoryStore
from wfcore.testing import assert_replays

KEY = "order-42"


def _shop(store: MemoryStore | None = None) -> tuple[LocalRunner, Task[[], dict[str, Any]]]:
    """A runner whose workflow draws every kind of value and starts a child workflow."""
    runner = LocalRunner(store)

    @runner.task(force_new_workflow=True)
    def label() -> str:
        return label.wf.uuid()

    @runner.task
    def checkout() -> dict[str, Any]:
        wf = checkout.wf
        return {
            "payment_id": f"PAY-{wf.uuid()}",
            "random": wf.random(),
            "randint": wf.randint(0, 10**12),
            "choice": wf.choice(range(10**6)),
            "label": wf.execute_task(label).result,
        }

    return runner, checkout


def _run_with_key(runner: LocalRunner, task: Task[[], dict[str, Any]]) -> tuple[str, Any]:
    record, _ = runner.engine.start(task.spec, idempotency_key=KEY)
    runner.run_until_idle()
    return record.workflow_id, runner.engine.result(record.workflow_id)


def test_the_same_key_in_two_stores_draws_different_values() -> None:
    # Given the same code and the same idempotency key in two separate stores
    first_id, first = _run_with_key(*_shop())
    second_id, second = _run_with_key(*_shop())
    # Then the workflows share their id (the key names it) but no value: not the payment id,
    # not any draw, not the child workflow's uuid (whose id derives from the parent's)
    assert first_id == second_id
    assert all(first[name] != second[name] for name in first), (first, second)


def test_every_workflow_records_its_own_secret_seed() -> None:
    # Given a workflow with a child workflow
    runner, checkout = _shop()
    workflow_id, _ = _run_with_key(runner, checkout)
    parent = runner.store.get_workflow(workflow_id)
    [child] = runner.store.child_workflows(workflow_id)
    other = runner.store.get_workflow(runner.start(checkout))
    # Then each one, child workflows included, has its own 256-bit seed
    seeds = [record.seed for record in (parent, child, other) if record is not None]
    assert len(seeds) == 3
    assert all(seed is not None and len(seed) == 32 for seed in seeds)
    assert len(set(seeds)) == 3


def test_the_seed_is_never_shown() -> None:
    # Given a stored workflow record
    runner, checkout = _shop()
    record = runner.store.get_workflow(runner.start(checkout))
    assert record is not None
    assert record.seed is not None
    # Then its repr and its dumps (what the CLI prints) leave the seed out
    assert "seed" not in record.model_dump(mode="json")
    assert "seed" not in record.model_dump()
    shown = [repr(record), str(record), record.model_dump_json()]
    for text in shown:
        assert "seed=" not in text
        assert '"seed"' not in text
        assert record.seed.hex() not in text
        assert repr(record.seed) not in text


# -- re-runs and replays repeat values -----------------------------------------------------


class _DieAtFirstCommit(DelegatingStore):
    """A store whose first commit never happens: the worker process dies (``SystemExit``,
    which the engine lets through as it must) before the commit reaches the store."""

    def __init__(self) -> None:
        super().__init__(MemoryStore())
        self.failed = False

    def commit(self, workflow_id: str, invocation_id: str, batch: Batch) -> CommitResult:
        if not self.failed:
            self.failed = True
            raise SystemExit("worker killed")
        return self.inner.commit(workflow_id, invocation_id, batch)


def test_a_rerun_draws_again_the_values_a_lost_commit_never_recorded() -> None:
    # Given a workflow that draws a payment id, uses it outside the history, then checkpoints,
    # and whose checkpoint never reaches the store
    store = _DieAtFirstCommit()
    runner = LocalRunner(store)
    used: list[str] = []

    @runner.task
    def pay() -> str:
        payment_id = pay.wf.uuid()
        used.append(payment_id)  # e.g. sent to a payment provider as its idempotency key
        pay.wf.deterministic("checkpoint", lambda: None)
        return payment_id

    record, _ = runner.engine.start(pay.spec)
    ref = InvocationRef(record.workflow_id, record.workflow_id, pay.spec.name)
    with pytest.raises(SystemExit):
        runner.engine.run(ref)
    snap = runner.store.load(record.workflow_id, ref.invocation_id, claim=False)
    assert snap is not None
    assert snap.entries == []  # nothing of that run was recorded
    # When the invocation runs again, with nothing recorded
    runner.engine.run(ref)
    # Then it drew the same payment id again (from the stored seed), so the provider sees one
    assert len(used) == 2
    assert used[0] == used[1] == runner.engine.result(record.workflow_id)


def test_a_replay_returns_the_recorded_values(tmp_path: Path) -> None:
    # Given a finished workflow and its exported history
    runner, checkout = _shop()
    workflow_id, result = _run_with_key(runner, checkout)
    path = tmp_path / "checkout.wfh"
    path.write_bytes(export_history(runner.store, workflow_id))
    # Then the same code replays it (strict replay returns recorded values, draws none)
    assert (
        Replayer(runner.engine.task, codec=runner.engine.codec).replay(runner.store, workflow_id).ok
    )
    assert_replays(runner, path)
    assert runner.engine.result(workflow_id) == result


# -- exported histories carry no seed --------------------------------------------------------


def test_an_exported_history_carries_no_seed_and_an_import_gets_fresh_ones() -> None:
    # Given an exported workflow tree (a parent and a child workflow)
    runner, checkout = _shop()
    workflow_id, _ = _run_with_key(runner, checkout)
    records = [runner.store.get_workflow(workflow_id), *runner.store.child_workflows(workflow_id)]
    seeds = [r.seed for r in records if r is not None and r.seed is not None]
    assert len(seeds) == 2
    data = export_history(runner.store, workflow_id)
    # Then the file holds neither seed
    assert all(seed not in data and seed.hex().encode() not in data for seed in seeds)
    # And an import gives each workflow a fresh secret, never the old id-derived scheme
    imported, root = import_history(data)
    copies = [imported.get_workflow(root), *imported.child_workflows(root)]
    fresh = [r.seed for r in copies if r is not None]
    assert len(fresh) == 2
    assert all(seed is not None and seed not in seeds for seed in fresh)


# -- workflows recorded before seeds existed ------------------------------------------------


def _v1_draw(workflow_id: str, invocation_id: str, seq: int) -> bytes:
    """The values of a workflow recorded before seeds: keyed by a hash of its ids alone."""
    key = hashlib.sha256(f"{workflow_id}\x00{invocation_id}".encode()).digest()
    position = seq.to_bytes(8, "big") + (0).to_bytes(4, "big")
    return hashlib.blake2b(position, key=key, digest_size=32).digest()


def _v1_uuid(draw: bytes) -> str:
    raw = bytearray(draw[:16])
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(raw)))


def test_a_workflow_recorded_before_seeds_keeps_drawing_the_old_values() -> None:
    # Given a workflow (and its plain child) stored as the previous version stored it: no seed
    runner = LocalRunner()

    @runner.task
    def child() -> str:
        return child.wf.uuid()

    @runner.task
    def flow() -> tuple[float, str, str]:
        return flow.wf.random(), flow.wf.uuid(), flow.wf.execute_task(child).result

    now = runner.now()
    wid = "legacy-1"
    record = WorkflowRecord(
        workflow_id=wid,
        workflow_type=flow.spec.name,
        root_workflow_id=wid,
        root_invocation_id=wid,
        created_at=now,
        updated_at=now,
    )
    args = runner.engine.codec.encode([[], {}])
    root = InvocationRecord(
        invocation_id=wid,
        workflow_id=wid,
        task_name=flow.spec.name,
        args=args,
        created_at=now,
        updated_at=now,
    )
    runner.store.create_workflow(record, root)
    runner.enqueue(root.ref)
    # When it runs with this version
    runner.run_until_idle()
    drawn, payment, from_child = runner.engine.result(wid)
    # Then it drew exactly what the old derivation gives (seq 0 and 1 of the root, seq 0 of
    # the child at "<root>.2")
    assert drawn == (int.from_bytes(_v1_draw(wid, wid, 0)[:8], "big") >> 11) / float(1 << 53)
    assert payment == _v1_uuid(_v1_draw(wid, wid, 1))
    assert from_child == _v1_uuid(_v1_draw(wid, f"{wid}.2", 0))
    stored = runner.store.get_workflow(wid)
    assert stored is not None
    assert stored.seed is None


def test_a_seeded_workflow_does_not_draw_the_old_values() -> None:
    runner = LocalRunner()

    @runner.task
    def flow() -> str:
        return flow.wf.uuid()

    workflow_id = runner.start(flow)
    runner.run_until_idle()
    assert runner.engine.result(workflow_id) != _v1_uuid(_v1_draw(workflow_id, workflow_id, 0))


def test_a_workflow_recorded_before_seeds_gives_its_child_workflows_seeds() -> None:
    runner = LocalRunner()

    @runner.task(force_new_workflow=True)
    def child() -> str:
        return child.wf.uuid()

    @runner.task
    def flow() -> str:
        return str(flow.wf.execute_task(child).result)

    workflow_id = runner.start(flow)
    stored = runner.store.get_workflow(workflow_id)
    assert stored is not None
    # Remove the seed, as if the record had been written before seeds existed
    runner.store._workflows[workflow_id].record = stored.model_copy(update={"seed": None})  # type: ignore[attr-defined]
    runner.run_until_idle()
    [child_record] = runner.store.child_workflows(workflow_id)
    assert child_record.seed is not None
    assert runner.engine.result(workflow_id) != _v1_uuid(
        _v1_draw(child_record.workflow_id, child_record.root_invocation_id, 0)
    )
