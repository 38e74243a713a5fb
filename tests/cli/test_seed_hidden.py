"""A workflow's secret seed never leaves the store through the CLI: not in any listing, not in
an exported history file, and that file still replays."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.cli import apps
from wfcore import open_store
from wfcore.cli import main


def test_no_command_shows_or_exports_the_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a SQLite store holding a finished workflow tree, and its seed
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    runner, flow = apps.build_runner(open_store(url))
    workflow_id = runner.start(flow, 21)
    runner.run_until_idle()
    record = runner.store.get_workflow(workflow_id)
    runner.store.close()
    assert record is not None
    assert record.seed is not None
    forms = [record.seed.hex(), base64.b64encode(record.seed).decode(), repr(record.seed)]
    # When every inspecting command prints it, as text and as JSON, and it is exported
    out = tmp_path / "flow.wfh"
    printed = []
    for argv in (
        ["list"],
        ["show", workflow_id],
        ["history", workflow_id],
        ["tree", workflow_id],
    ):
        for json_flag in ([], ["--json"]):
            assert main([*json_flag, "--store", url, *argv]) == 0
            printed.append(capsys.readouterr().out)
    assert main(["--store", url, "export", workflow_id, "-o", str(out)]) == 0
    # Then the seed appears nowhere
    for text in printed:
        assert "seed" not in text
        assert not any(form in text for form in forms)
    assert record.seed not in out.read_bytes()
    # And the exported history replays against the code that recorded it
    capsys.readouterr()
    assert main(["replay", "--app", "tests.cli.apps:runner", str(out)]) == 0
