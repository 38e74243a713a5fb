"""``wfcore schedules list|pause|resume|delete|trigger``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wfcore import LocalRunner, WorkflowStatus, open_store
from wfcore.cli import main


def test_list_pause_resume_trigger_delete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a schedule stored in SQLite and run by a worker (a LocalRunner on a fake clock)
    url = f"sqlite:///{tmp_path / 's.sqlite3'}"
    runner = LocalRunner(open_store(url))

    @runner.task(name="cli.report")
    def report() -> str:
        return "sent"

    runner.schedule(report, cron="0 * * * *", schedule_id="hourly")

    def fired() -> int:
        return len(runner.store.list_workflows(workflow_type="cli.report"))

    def wake() -> None:  # what the workers' sweep does for a signal sent without --app
        runner.advance(120)
        runner.engine.recover(stale_after=60)
        runner.run_for(1)

    runner.run_for(1)
    # When it is listed
    assert main(["--store", url, "schedules", "list", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["schedule_id"] == "hourly"
    assert row["when"] == "cron 0 * * * *"
    assert row["state"] == "active"
    assert row["next_fire"].endswith(":00:00+00:00")
    # Then pause stops its fires and shows as paused
    assert main(["--store", url, "schedules", "pause", "hourly"]) == 0
    assert "pause sent to schedule 'hourly'" in capsys.readouterr().out
    wake()
    runner.run_for(3 * 3600)
    assert fired() == 0
    assert main(["--store", url, "schedules", "list"]) == 0
    assert "paused" in capsys.readouterr().out
    # Trigger starts one run now, even while paused; resume makes it fire again
    assert main(["--store", url, "schedules", "trigger", "hourly"]) == 0
    assert "trigger sent" in capsys.readouterr().out
    wake()
    assert fired() == 1
    assert main(["--store", url, "schedules", "resume", "hourly"]) == 0
    assert "resume sent" in capsys.readouterr().out
    wake()
    runner.run_for(3600)
    assert fired() == 2
    # Delete ends it
    assert main(["--store", url, "schedules", "delete", "hourly", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sent"] is True
    wake()
    assert runner.store.get_workflow("schedule-hourly").status is WorkflowStatus.COMPLETED  # type: ignore[union-attr]
    assert main(["--store", url, "--json", "schedules", "list"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["state"] == "deleted"
    runner.store.close()


def test_errors_name_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite3'}"
    assert main(["--store", url, "schedules", "pause"]) == 1
    assert "needs a SCHEDULE_ID" in capsys.readouterr().err
    assert main(["--store", url, "schedules", "pause", "nope"]) == 1
    assert "schedule-nope" in capsys.readouterr().err
