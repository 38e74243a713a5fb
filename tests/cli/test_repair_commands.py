"""``wfcore resume`` and ``wfcore fork``: one workflow, in bulk, dry runs, lineage, errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli import apps
from wfcore import LocalRunner, Task, WorkflowStatus, open_store
from wfcore.cli import main

APP = "tests.cli.apps:repair_runner"


@pytest.fixture
def failed(tmp_path: Path) -> Iterator[tuple[str, LocalRunner, Task[[int], int], list[str]]]:
    """A SQLite store with three workflows failed by the shipped bug, and the runner (the
    "workers") on it; the bug is back off afterwards."""
    url = f"sqlite:///{tmp_path / 'repair.sqlite3'}"
    apps.REPAIR_BUG["on"] = True
    runner, flow = apps.build_repair_runner(open_store(url))
    ids = [runner.start(flow, x) for x in (10, 20, 30)]
    runner.run_until_idle()
    apps.REPAIR_BUG["on"] = False
    try:
        yield url, runner, flow, ids
    finally:
        apps.REPAIR_BUG["on"] = True
        runner.store.close()


def _json(capsys: pytest.CaptureFixture[str], *argv: str, code: int = 0) -> Any:
    assert main(["--json", *argv]) == code
    return json.loads(capsys.readouterr().out)


def _work(runner: LocalRunner) -> None:
    """The workers' recovery sweep finds what the CLI reopened or created, and runs it."""
    runner.engine.recover(stale_after=0)
    runner.run_until_idle()


def test_resume_one_workflow(
    failed: tuple[str, LocalRunner, Task[[int], int], list[str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, runner, _, ids = failed
    done = _json(capsys, "--store", url, "resume", ids[0], "--app", APP)
    assert done == {"workflow_id": ids[0], "result_id": ids[0], "created": True, "error": None}
    _work(runner)
    assert runner.engine.result(ids[0]) == 13
    # Resuming it again is refused with a one-line error and exit status 1
    assert main(["--store", url, "resume", ids[0], "--app", APP]) == 1
    assert "only a FAILED or CANCELLED workflow can be resumed" in capsys.readouterr().err


def test_fork_then_list_forked_and_tree(
    failed: tuple[str, LocalRunner, Task[[int], int], list[str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, runner, _, ids = failed
    argv = ["--store", url, "fork", ids[1], "--from-failure", "--fork-id", "f1", "--app", APP]
    done = _json(capsys, *argv)
    again = _json(capsys, *argv)
    assert isinstance(done, dict)
    assert isinstance(again, dict)
    assert done["created"] is True
    assert again == {**done, "created": False}
    _work(runner)
    fork_id = done["result_id"]
    assert runner.engine.result(fork_id) == 23
    listed = _json(capsys, "--store", url, "list", "--forked")
    assert [(w["workflow_id"], w["forked_from"]) for w in listed] == [(fork_id, ids[1])]
    tree = _json(capsys, "--store", url, "tree", ids[1])
    assert tree["forks"] == [
        {"workflow_id": fork_id, "type": "cli.repair_flow", "status": "COMPLETED"}
    ]
    assert _json(capsys, "--store", url, "tree", fork_id)["forked_from"] == ids[1]
    assert main(["--store", url, "tree", ids[1]]) == 0
    assert f"fork of {ids[1]}" not in capsys.readouterr().out  # the original is no fork
    assert main(["--store", url, "tree", fork_id]) == 0
    assert f"fork of {ids[1]}" in capsys.readouterr().out


def test_bulk_dry_run_then_bulk_resume(
    failed: tuple[str, LocalRunner, Task[[int], int], list[str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, runner, _, ids = failed
    selection = ["--all", "--status", "failed", "--type", "cli.repair_flow", "--since", "1h"]
    planned = _json(capsys, "--store", url, "resume", *selection, "--dry-run", "--app", APP)
    assert sorted(w["workflow_id"] for w in planned) == sorted(ids)
    record = runner.store.get_workflow(ids[0])
    assert record is not None
    assert record.status is WorkflowStatus.FAILED
    done = _json(capsys, "--store", url, "resume", *selection, "--app", APP)
    assert sorted(d["workflow_id"] for d in done) == sorted(ids)
    _work(runner)
    assert sorted(runner.engine.result(i) for i in ids) == [13, 23, 33]
    # Nothing is FAILED any more, so a second bulk run does nothing
    assert _json(capsys, "--store", url, "resume", *selection, "--app", APP) == []


def test_bulk_fork_with_a_progress_bar_for_people(
    failed: tuple[str, LocalRunner, Task[[int], int], list[str]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, runner, _, _ = failed
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # a terminal: the bar is shown
    argv = ["--store", url, "fork", "--all", "--from-seq", "1", "--app", APP]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "forking 3 workflow(s)" in err
    assert "forking" not in out
    assert out.count("forked as") == 3
    assert "3 done, 0 refused" in out
    _work(runner)
    forks = [w for w in runner.store.list_workflows() if w.forked_from is not None]
    assert sorted(runner.engine.result(w.workflow_id) for w in forks) == [13, 23, 33]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fork", "ID", "--from-seq", "9"], "outside the history"),
        (["fork", "ID", "--from-step", "nope"], "no step or child task named 'nope'"),
        (["fork", "missing", "--from-seq", "0"], "no workflow 'missing'"),
        (["resume", "--all", "ID"], "either a WORKFLOW_ID or --all"),
        (["resume", "--all", "--since", "soon"], "since='soon' is not a duration"),
    ],
)
def test_bad_requests_exit_1_with_one_line_and_write_nothing(
    failed: tuple[str, LocalRunner, Task[[int], int], list[str]],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    url, runner, _, ids = failed
    argv = [ids[0] if a == "ID" else a for a in argv]
    assert main(["--store", url, *argv, "--app", APP]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert len(runner.store.list_workflows()) == 3
    record = runner.store.get_workflow(ids[0])
    assert record is not None
    assert record.status is WorkflowStatus.FAILED


def test_fork_needs_exactly_one_point(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["fork", "x", "--from-seq", "1", "--from-failure", "--app", APP])
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
