"""`wfcore show` and `history` with values the CLI cannot fully decode."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.cli import apps
from wfcore import open_store
from wfcore.cli import main


@pytest.fixture
def checkout(tmp_path: Path) -> tuple[str, str]:
    """A SQLite store URL holding a finished workflow that took and returned models."""
    url = f"sqlite:///{tmp_path / 'models.sqlite3'}"
    runner, flow = apps.build_model_runner(open_store(url))
    workflow_id = runner.start(flow, apps.Order(sku="tea", quantity=2))
    runner.run_until_idle()
    runner.store.close()
    return url, workflow_id


def test_show_renders_models_nobody_registered_generically(
    checkout: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url, workflow_id = checkout
    # As JSON: every field of the workflow, and the models as their class name and fields
    assert main(["--json", "--store", url, "show", workflow_id]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "COMPLETED"
    assert shown["args"] == [
        {"unregistered_model": "tests.cli.apps.Order", "fields": {"sku": "tea", "quantity": 2}}
    ]
    assert shown["result"] == {
        "unregistered_model": "tests.cli.apps.Receipt",
        "fields": {"order": {"sku": "tea", "quantity": 2}, "total": 5.0},
    }
    # As a table: the same, spelled out
    assert main(["--store", url, "show", workflow_id]) == 0
    table = capsys.readouterr().out
    assert "COMPLETED" in table
    assert "<unregistered model tests.cli.apps.Receipt:" in table
    # And the history decodes as well
    assert main(["--json", "--store", url, "history", workflow_id]) == 0
    kinds = [e["kind"] for e in json.loads(capsys.readouterr().out)]
    assert "random" in kinds


def test_app_registers_the_models_so_show_renders_them_properly(
    checkout: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url, workflow_id = checkout
    app = "tests.cli.apps:model_runner"
    assert main(["--json", "--store", url, "show", workflow_id, "--app", app]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["args"] == [{"sku": "tea", "quantity": 2}]
    assert shown["result"] == {"order": {"sku": "tea", "quantity": 2}, "total": 5.0}
    assert main(["--store", url, "show", workflow_id, "--app", app]) == 0
    table = capsys.readouterr().out
    assert "Receipt(order=Order(sku='tea', quantity=2), total=5.0)" in table
    assert "unregistered" not in table


def test_app_without_store_reads_the_apps_own_store(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a workflow run by the app's runner, in its own (memory) store
    monkeypatch.delenv("WFCORE_STORE_URL", raising=False)
    workflow_id = apps.model_runner.start(apps.model_checkout, apps.Order(sku="a", quantity=1))
    apps.model_runner.run_until_idle()
    # When it is shown with --app and no --store, then that store is read
    assert main(["--json", "show", workflow_id, "--app", "tests.cli.apps:model_runner"]) == 0
    assert json.loads(capsys.readouterr().out)["result"]["total"] == 2.5


def test_show_still_shows_the_workflow_when_its_root_row_is_damaged(
    checkout: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a root invocation whose 'waiting' column is not JSON
    url, workflow_id = checkout
    raw = sqlite3.connect(url.removeprefix("sqlite:///"))
    raw.execute("UPDATE invocations SET waiting = 'not json' WHERE workflow_id = ?", (workflow_id,))
    raw.commit()
    raw.close()
    # When it is shown
    assert main(["--json", "--store", url, "show", workflow_id]) == 0
    shown = json.loads(capsys.readouterr().out)
    # Then identity and status are there, and what could not be read says why
    assert shown["status"] == "COMPLETED"
    assert "'waiting'" in shown["unreadable"]["result"]
    assert workflow_id in shown["unreadable"]["args"]
