"""Inspecting a SQLite store this process cannot write: read commands work, writes say why."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import apps
from wfcore import open_store
from wfcore.cli import main

# Root ignores file permissions; without CAP_DAC_OVERRIDE (and _READ_SEARCH) it obeys them, as
# any other user does.
_DROP = "-dac_override,-dac_read_search"


def _unprivileged() -> list[str]:
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot make a file read-only for us")
    return [setpriv, "--bounding-set", _DROP, "--inh-caps", _DROP]


@pytest.fixture
def read_only_store(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A store file (mode 0444, in a 0555 directory) with one finished workflow, and its id."""
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "store.sqlite3"
    runner, flow = apps.build_runner(open_store(f"sqlite:///{path}"))
    workflow_id = runner.start(flow, 21)
    runner.run_until_idle()
    runner.store.close()
    assert sorted(p.name for p in folder.iterdir()) == ["store.sqlite3"]  # no -wal, no -shm
    path.chmod(0o444)
    folder.chmod(0o555)
    try:
        yield path, workflow_id
    finally:
        folder.chmod(0o755)
        path.chmod(0o644)


def _wfcore(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [*_unprivileged(), sys.executable, "-m", "wfcore.cli", *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=cwd)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_inspecting_commands_read_a_read_only_file(
    read_only_store: tuple[Path, str], tmp_path: Path
) -> None:
    path, workflow_id = read_only_store
    before = _digest(path)
    url = f"sqlite:///{path}"
    listed = _wfcore("list", "--json", "--store", url, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [w["workflow_id"] for w in json.loads(listed.stdout)] == [workflow_id]
    for command in ("show", "history", "tree", "data"):
        done = _wfcore(command, workflow_id, "--store", url, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    shown = json.loads(_wfcore("--json", "show", workflow_id, "--store", url, cwd=tmp_path).stdout)
    assert shown["result"] == 42
    out = tmp_path / "flow.wfh"
    exported = _wfcore("export", workflow_id, "-o", str(out), "--store", url, cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert out.stat().st_size > 0
    assert _digest(path) == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["store.sqlite3"]


def test_a_command_that_writes_says_the_file_is_read_only(
    read_only_store: tuple[Path, str], tmp_path: Path
) -> None:
    path, workflow_id = read_only_store
    before = _digest(path)
    done = _wfcore("cancel", workflow_id, "--store", f"sqlite:///{path}", cwd=tmp_path)
    assert done.returncode == 1
    assert "is read-only for this process" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1
    assert _digest(path) == before


def test_a_missing_file_is_not_created_by_an_inspecting_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WFCORE_STORE_URL", raising=False)
    assert main(["list"]) == 1
    assert "no SQLite store file 'wfcore.sqlite3'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
