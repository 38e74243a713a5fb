"""The wfcore CLI: tables and JSON, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import apps
from wfcore import LocalRunner, open_store
from wfcore.cli import main


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A SQLite store holding one finished workflow with a child, run by the test app."""
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    runner, flow = apps.build_runner(open_store(url))
    runner.run(flow, 21)
    runner.store.close()
    return url


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    assert main(["--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_list_show_history_tree(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    listed = _json(capsys, "--store", store_url, "list", "--status", "COMPLETED")
    assert isinstance(listed, list)
    assert [w["workflow_type"] for w in listed] == ["cli.flow"]
    workflow_id = listed[0]["workflow_id"]
    shown = _json(capsys, "--store", store_url, "show", workflow_id)
    assert isinstance(shown, dict)
    assert shown["result"] == 42
    events = _json(capsys, "--store", store_url, "history", workflow_id)
    assert isinstance(events, list)
    kinds = [e["kind"] for e in events]
    assert kinds.count("task_started") == 2
    assert "random" in kinds
    assert "start_task" in kinds
    tree = _json(capsys, "--store", store_url, "tree", workflow_id)
    assert tree == {
        "workflow_id": workflow_id, "type": "cli.flow", "status": "COMPLETED", "children": []
    }  # fmt: skip
    # And the human forms print tables
    assert main(["--store", store_url, "history", workflow_id]) == 0
    assert "start_task" in capsys.readouterr().out


def _replay_before_and_after_a_change(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, int, str]:
    """``wfcore replay`` of ``history`` against the test app, then against its version 2 (an
    extra ``uuid()``): each exit code and output."""
    same = main(["replay", "--app", "tests.cli.apps:runner", str(history)])
    first = capsys.readouterr().out
    apps.VERSION["v"] = 2
    try:
        changed = main(["replay", "--app", "tests.cli.apps:runner", str(history)])
    finally:
        apps.VERSION["v"] = 1
    return same, first, changed, capsys.readouterr().out


def test_export_then_replay_passes_and_fails_after_a_change(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an exported history
    listed = _json(capsys, "--store", store_url, "list")
    assert isinstance(listed, list)
    out = tmp_path / "flow.wfh"
    assert main(["--store", store_url, "export", listed[0]["workflow_id"], "-o", str(out)]) == 0
    capsys.readouterr()
    # When it is replayed against the same code, then against changed code
    same, first, changed, second = _replay_before_and_after_a_change(out, capsys)
    # Then the first passes and the second exits non-zero naming the divergence
    assert (same, changed) == (0, 1)
    assert "replay ok" in first
    assert "DIVERGED" in second
    assert "uuid()" in second
    assert "apps.py" in second


def test_an_async_workflow_exports_and_replays_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a finished async workflow (gather over two children), exported
    url = f"sqlite:///{tmp_path / 'async.sqlite3'}"
    runner, _ = apps.build_runner(open_store(url))
    record, _ = runner.engine.start(runner._lookup("cli.async_flow"), (20,), {})
    runner.run_until_idle()
    assert runner.engine.result(record.workflow_id) == 82  # 2 * 20 + 2 * 21
    runner.store.close()
    out = tmp_path / "async.wfh"
    assert main(["--store", url, "export", record.workflow_id, "-o", str(out)]) == 0
    capsys.readouterr()
    events = _json(capsys, "--store", url, "history", record.workflow_id)
    assert isinstance(events, list)
    assert "resumed" in [e["kind"] for e in events]  # where the gather was delivered
    # When it is replayed against the same code, then against changed code
    same, first, changed, second = _replay_before_and_after_a_change(out, capsys)
    # Then the first passes and the second names the divergence
    assert (same, changed) == (0, 1)
    assert "replay ok" in first
    assert "uuid()" in second


def test_run_starts_a_task_and_prints_its_result(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--json", "run", "tests.cli.apps:triple", "14", "--timeout", "20"]) == 0
    assert json.loads(capsys.readouterr().out)["result"] == 42


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--store", "memory://", "show", "nope"], "no workflow 'nope'"),
        (["--store", "bogus://x", "list"], "unknown store URL scheme"),
        (["--store", "redis://127.0.0.1:1/0?timeout=0.3", "list"], "unavailable"),
        (["replay", "--app", "no_such_module:app", "x.wfh"], "cannot import"),
        (["replay", "--app", "tests.cli.apps:runner", "missing.wfh"], "does not exist"),
        (["replay", "--app", "tests.cli.apps:VERSION", "missing.wfh"], "not a wfcore App"),
        (["run", "tests.cli.apps:VERSION"], "not a task"),
    ],
)
def test_errors_are_one_line_and_non_zero(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_cancel_sets_the_flag_and_says_when_there_is_nothing_to_cancel(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a workflow sleeping in a SQLite store
    url = f"sqlite:///{tmp_path / 'cancel.sqlite3'}"
    runner = LocalRunner(open_store(url))

    @runner.task(name="cli.sleeper")
    def sleeper() -> str:
        sleeper.wf.sleep("1h")
        return "woke"

    workflow_id = runner.start(sleeper)
    runner.step()
    # When the CLI cancels it and the worker wakes it
    assert _json(capsys, "--store", url, "cancel", workflow_id) == {
        "workflow_id": workflow_id,
        "cancelled": True,
    }
    runner.run_until_idle()
    # Then it ends CANCELLED, and a second cancel is a clear no-op
    assert main(["--store", url, "cancel", workflow_id]) == 0
    assert "already finished (CANCELLED)" in capsys.readouterr().out
