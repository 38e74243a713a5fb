"""`wfcore show` and `history` of a workflow that continued as new."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wfcore import LocalRunner, open_store
from wfcore.cli import main


def test_show_and_history_give_the_run_and_the_lineage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a finished workflow that continued as new twice
    url = f"sqlite:///{tmp_path / 'runs.sqlite3'}"
    runner = LocalRunner(open_store(url))

    @runner.task(name="cli.loop")
    def loop(n: int) -> int:
        if n < 2:
            loop.wf.continue_as_new(n + 1)
        return n

    workflow_id = runner.start(loop, 0)
    runner.run_until_idle()
    runner.store.close()
    # When it is shown: the current run and its arguments and result
    assert main(["--json", "--store", url, "show", workflow_id]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["run"] == 3
    assert shown["root_invocation_id"] == f"{workflow_id}~run3"
    assert shown["status"] == "COMPLETED"
    assert shown["result"] == 2
    # And its history names each continuation
    assert main(["--json", "--store", url, "history", workflow_id]) == 0
    events = json.loads(capsys.readouterr().out)
    continued = [e["value"] for e in events if e["kind"] == "workflow_continued_as_new"]
    assert [c["run"] for c in continued] == [2, 3]
