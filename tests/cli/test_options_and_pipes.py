"""Global options before or after the command; a reader that goes away; bad store URLs."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import apps
from wfcore import LocalRunner, open_store
from wfcore.cli import BROKEN_PIPE, main


@pytest.fixture
def store(tmp_path: Path) -> tuple[str, str]:
    """A SQLite store URL holding one finished workflow, and that workflow's id."""
    url = f"sqlite:///{tmp_path / 'opts.sqlite3'}"
    runner, flow = apps.build_runner(open_store(url))
    workflow_id = runner.start(flow, 21)
    runner.run_until_idle()
    runner.store.close()
    return url, workflow_id


@pytest.mark.parametrize(
    "argv",
    [
        ["--json", "--store", "{url}", "show", "{id}"],
        ["show", "{id}", "--json", "--store", "{url}"],
        ["--store", "{url}", "show", "--json", "{id}"],
        ["--json", "show", "{id}", "--store", "{url}"],
    ],
    ids=["before", "after", "split-store-first", "split-json-first"],
)
def test_global_options_work_before_and_after_the_command(
    store: tuple[str, str], argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    url, workflow_id = store
    assert main([a.format(url=url, id=workflow_id) for a in argv]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["workflow_id"] == workflow_id
    assert shown["result"] == 42


def test_list_json_after_the_command(
    store: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url, workflow_id = store
    assert main(["list", "--json", "--store", url, "--status", "COMPLETED"]) == 0
    assert [w["workflow_id"] for w in json.loads(capsys.readouterr().out)] == [workflow_id]


def _big_history(tmp_path: Path) -> tuple[str, str]:
    # Far more output than a pipe holds, so the writer is still writing when the reader goes.
    url = f"sqlite:///{tmp_path / 'big.sqlite3'}"
    runner = LocalRunner(open_store(url))

    @runner.task(name="cli.chatty")
    def chatty() -> int:
        for _ in range(1500):
            chatty.wf.random()
        return 1

    workflow_id = runner.start(chatty)
    runner.run_until_idle()
    runner.store.close()
    return url, workflow_id


def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path: Path) -> None:
    # Given a long history, printed as JSON into a pipe (as in `wfcore --json history ID | head`)
    url, workflow_id = _big_history(tmp_path)
    argv = [sys.executable, "-m", "wfcore.cli", "--json", "--store", url, "history", workflow_id]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stderr is not None
    # When the reader takes the first line and closes the pipe
    assert process.stdout.readline() == b"[\n"
    process.stdout.close()
    errors = process.stderr.read().decode()
    process.stderr.close()
    # Then the command exits with the broken-pipe status and prints no traceback
    assert process.wait(timeout=30) == BROKEN_PIPE
    assert errors == ""


class _ClosedPipe(io.StringIO):
    """Stands for stdout when the reader has gone: every write and flush fails."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "table"])
def test_both_output_forms_stop_quietly_on_a_closed_pipe(
    store: tuple[str, str],
    as_json: bool,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, workflow_id = store
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    argv = ["--store", url, "history", workflow_id] + (["--json"] if as_json else [])
    assert main(argv) == BROKEN_PIPE
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis://:s3cret@[::1/0", "malformed"),
        ("redis://user:s3cret@localhost:99999/0", "Port out of range"),
        ("redis://user:s3cret@localhost:port/0", "Port could not be cast"),
        ("mongodb://user:s3cret@localhost/db", "unknown store URL scheme 'mongodb'"),
        ("postgres://user:s3cret@localhost/db?max_size=0", "max_size=0"),
        ("memory://somewhere", "must be exactly 'memory://'"),
        ("sqlite://", "names no file"),
        ("sqlite://user:s3cret@host/x.db", "is not an SQLite store URL"),
    ],
)
def test_a_bad_store_url_is_one_line_that_hides_the_password(
    url: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--store", url, "list"]) == 1
    err = capsys.readouterr().err
    assert says in err
    assert "s3cret" not in err
    assert err.count("\n") == 1
    assert "Traceback" not in err
