"""Strict replay verification: matching histories pass, changed code is named precisely."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wfcore import (
    DecodeError,
    LocalRunner,
    Replayer,
    RunStatus,
    Task,
    export_history,
    import_history,
)


def _setup() -> tuple[LocalRunner, dict[str, int], Task[..., Any]]:
    runner = LocalRunner()
    code = {"v": 1}

    @runner.task
    def child(x: int) -> int:
        return x + child.wf.randint(1, 6)

    @runner.task(force_new_workflow=True)
    def sub(x: int) -> str:
        sub.wf.set_data("x", x)
        return sub.wf.uuid()

    @runner.task
    def flow(x: int) -> dict[str, Any]:
        wf = flow.wf
        drawn = wf.random()
        if code["v"] == 2:
            wf.uuid()
        if code["v"] == 3:
            drawn = drawn + 1
        first = wf.execute_task(child, x)
        if code["v"] == 4:
            wf.deterministic("renamed", lambda: 1)
        else:
            wf.deterministic("step", lambda: 1)
        return {"drawn": drawn, "child": first.result, "sub": wf.execute_task(sub, x).result}

    return runner, code, flow


def _replayer(runner: LocalRunner) -> Replayer:
    return Replayer(runner._lookup, codec=runner.engine.codec)


def test_unchanged_code_replays_every_invocation_of_the_tree() -> None:
    runner, _, flow = _setup()
    workflow_id = runner.start(flow, 3)
    runner.run_until_idle()
    before = export_history(runner.store, workflow_id)
    result = _replayer(runner).replay(runner.store, workflow_id)
    assert result.ok, result.divergence
    assert result.invocations == 3  # flow, child, and the sub workflow's root
    assert result.events >= 6
    # And the replay wrote nothing
    assert export_history(runner.store, workflow_id) == before


def test_inserted_operation_is_named_with_its_source_line() -> None:
    runner, code, flow = _setup()
    workflow_id = runner.start(flow, 3)
    runner.run_until_idle()
    code["v"] = 2
    result = _replayer(runner).replay(runner.store, workflow_id)
    divergence = result.divergence
    assert divergence is not None
    assert (divergence.invocation_id, divergence.seq) == (workflow_id, 1)
    assert divergence.recorded.startswith("start_task(")
    assert divergence.attempted == "uuid()"
    assert divergence.task_name == flow.spec.name
    assert divergence.source is not None
    assert divergence.source.startswith(__file__)


def test_renamed_step_is_a_divergence() -> None:
    runner, code, flow = _setup()
    workflow_id = runner.start(flow, 3)
    runner.run_until_idle()
    code["v"] = 4
    divergence = _replayer(runner).replay(runner.store, workflow_id).divergence
    assert divergence is not None
    assert (divergence.recorded, divergence.attempted) == (
        "deterministic('step')",
        "deterministic('renamed')",
    )


def test_different_result_is_a_divergence() -> None:
    runner, code, flow = _setup()
    workflow_id = runner.start(flow, 3)
    runner.run_until_idle()
    code["v"] = 3
    divergence = _replayer(runner).replay(runner.store, workflow_id).divergence
    assert divergence is not None
    assert divergence.seq is None
    assert divergence.recorded.startswith("completed with")
    assert "completed with" in divergence.attempted


def test_suspended_workflow_replays_up_to_its_wait() -> None:
    runner, code, flow = _setup()
    workflow_id = runner.start(flow, 3)
    assert runner.step() is not None  # runs and suspends on the child
    assert _replayer(runner).replay(runner.store, workflow_id).ok
    code["v"] = 2
    assert not _replayer(runner).replay(runner.store, workflow_id).ok


def test_failed_workflow_replays_to_the_same_error() -> None:
    runner = LocalRunner()

    @runner.task
    def flow() -> None:
        flow.wf.random()
        raise ValueError("boom")

    workflow_id = runner.start(flow)
    runner.run_until_idle()
    assert runner.results[-1][1].status is RunStatus.FAILED
    assert _replayer(runner).replay(runner.store, workflow_id).ok


def test_exported_file_replays_after_import(tmp_path: Path) -> None:
    runner, code, flow = _setup()
    workflow_id = runner.start(flow, 3)
    runner.run_until_idle()
    path = tmp_path / "flow.wfh"
    path.write_bytes(export_history(runner.store, workflow_id))
    assert _replayer(runner).replay_file(path).ok
    code["v"] = 2
    assert not _replayer(runner).replay_file(path).ok
    store, root = import_history(path.read_bytes())
    assert root == workflow_id
    assert len(store.child_workflows(root)) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xc1not msgpack", "not a wfcore history file"),
        (b"\x81\xa1a\x01", "no 'wfcore-history' header"),
        (b"\x83\xa6format\xaewfcore-history\xa7version\x63\xa4root\xa1x", "version 99"),
    ],
)
def test_bad_history_files_are_decode_errors(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        import_history(data, source="f.wfh")
