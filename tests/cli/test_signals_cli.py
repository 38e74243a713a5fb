"""``wfcore signal ID NAME [JSON]`` and ``wfcore data ID [KEY]``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wfcore import LocalRunner, WorkflowStatus, open_store
from wfcore.cli import main


def _waiting(tmp_path: Path) -> tuple[str, LocalRunner, str]:
    """A SQLite store with an approval workflow waiting for its signal."""
    url = f"sqlite:///{tmp_path / 'signals.sqlite3'}"
    runner = LocalRunner(open_store(url))

    @runner.task(name="cli.approval")
    def approval() -> object:
        wf = approval.wf
        wf.set_data("status", "waiting")
        wf.set_data("order", {"id": 7})
        decision = wf.wait_signal("approval")
        wf.set_data("status", "decided")
        return decision

    workflow_id = runner.start(approval)
    runner.step()
    return url, runner, workflow_id


def test_signal_and_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a waiting workflow
    url, runner, workflow_id = _waiting(tmp_path)
    # When its data is read, then a JSON signal is sent twice with one id
    assert main(["--store", url, "--json", "data", workflow_id]) == 0
    assert json.loads(capsys.readouterr().out) == {"order": {"id": 7}, "status": "waiting"}
    assert main(["--store", url, "data", workflow_id, "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == "waiting"
    argv = ["--store", url, "signal", workflow_id, "approval", '{"ok": true}', "--signal-id", "t1"]
    assert main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "workflow_id": workflow_id,
        "name": "approval",
        "duplicate": False,
        "delivered": True,
    }
    assert main(argv) == 0
    assert "was already accepted" in capsys.readouterr().out
    # Then the workflow (woken by its worker) got it once
    runner.advance(120)
    runner.engine.recover(stale_after=60)  # the CLI has no queue: the sweep wakes it
    runner.run_until_idle()
    assert runner.engine.result(workflow_id) == {"ok": True}
    assert main(["--store", url, "data", workflow_id]) == 0
    assert "decided" in capsys.readouterr().out
    # And its history shows what the wait received
    assert main(["--store", url, "--json", "history", workflow_id]) == 0
    rows = [
        (e["kind"], e["name"], e["seq"], e["value"]) for e in json.loads(capsys.readouterr().out)
    ]
    waited = [row for row in rows if row[0] in ("wait_signal", "signal_received")]
    assert waited == [
        ("wait_signal", "approval", 2, None),
        ("signal_received", "approval", 2, {"ok": True}),
    ]
    assert main(["--store", url, "history", workflow_id]) == 0
    assert "signal_received" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["signal", "{id}", "approval", "{not json"], "is not JSON"),
        (["signal", "no-such", "approval"], "no workflow 'no-such'"),
        (["data", "{id}", "missing"], "has no data 'missing'"),
    ],
)
def test_bad_signal_and_data_commands_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    url, runner, workflow_id = _waiting(tmp_path)
    assert main(["--store", url, *(a.replace("{id}", workflow_id) for a in argv)]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert runner.engine.workflow(workflow_id).status is WorkflowStatus.SUSPENDED


def test_signalling_a_finished_workflow_names_its_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, runner, workflow_id = _waiting(tmp_path)
    runner.signal(workflow_id, "approval", 1)
    runner.run_until_idle()
    assert main(["--store", url, "signal", workflow_id, "approval", "2"]) == 1
    assert "it is COMPLETED" in capsys.readouterr().err
