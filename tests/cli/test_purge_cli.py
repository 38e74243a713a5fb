"""``wfcore purge --older-than AGE [--status S] [--dry-run]`` on SQLite and Redis."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from wfcore import LocalRunner, WorkflowStatus, current, open_store
from wfcore.cli import main

DAY = 86400


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'purge.sqlite3'}"
    redis_url: str = request.getfixturevalue("redis_url")
    return f"{redis_url}{'&' if '?' in redis_url else '?'}prefix=purge-{tmp_path.name[-12:]}"


def _populate(url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Old (40 days) completed, failed and still-waiting workflows, and a new completed one."""
    runner = LocalRunner(open_store(url))

    @runner.task(name="purge.ok")
    def ok() -> str:
        return "ok"

    @runner.task(name="purge.bad")
    def bad() -> str:
        raise ValueError("boom")

    @runner.task(name="purge.waits")
    def waits() -> object:
        return current().wait_signal("go")

    with monkeypatch.context() as past:  # these ran 40 days ago (stores stamp wall time)
        real = time.time
        past.setattr(time, "time", lambda: real() - 40 * DAY)
        ids = {name: runner.start(task) for name, task in (("old", ok), ("failed", bad))}
        ids["waiting"] = runner.start(waits)
        runner.run_until_idle()
    ids["new"] = runner.start(ok)
    runner.run_until_idle()
    runner.store.close()
    return ids


def _status(url: str, workflow_id: str) -> WorkflowStatus | None:
    store = open_store(url)
    try:
        record = store.get_workflow(workflow_id)
        return None if record is None else record.status
    finally:
        store.close()


def test_purge_deletes_only_old_finished_workflows(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _populate(url, monkeypatch)
    # A dry run lists what would go and deletes nothing
    assert main(["--store", url, "--json", "purge", "--older-than", "30d", "--dry-run"]) == 0
    listed = {w["workflow_id"] for w in json.loads(capsys.readouterr().out)}
    assert listed == {ids["old"], ids["failed"]}
    assert _status(url, ids["old"]) is WorkflowStatus.COMPLETED
    # --status narrows it
    argv = ["--store", url, "purge", "--older-than", "30d", "--status", "failed", "--json"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["purged"] == 1
    assert _status(url, ids["failed"]) is None
    assert _status(url, ids["old"]) is WorkflowStatus.COMPLETED
    # Without it every old finished workflow goes; the unfinished and the new ones stay
    assert main(["--store", url, "purge", "--older-than", "30d"]) == 0
    assert "purged 1 finished workflow(s)" in capsys.readouterr().out
    assert _status(url, ids["old"]) is None
    assert _status(url, ids["waiting"]) is WorkflowStatus.SUSPENDED
    assert _status(url, ids["new"]) is WorkflowStatus.COMPLETED


def test_purge_refuses_a_bad_age_or_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'p.sqlite3'}"
    assert main(["--store", url, "purge", "--older-than", "a month"]) == 1
    assert "is not a duration" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--store", url, "purge", "--older-than", "1d", "--status", "running"])
