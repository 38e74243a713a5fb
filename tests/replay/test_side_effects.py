"""Replay verification repeats no side effect: not a leaf task's, not a step's, not a child's.

Every entry point (``app.verify_replay``, ``wfcore replay`` as CI runs it, and
``wfcore.testing.assert_replays``) is checked against a history as recorded and against one
whose leaf tasks' arguments were edited by an attacker.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgpack
import pytest

from tests.replay import mailer
from wfcore import Codec, export_history, import_history
from wfcore.testing import assert_replays, replay_histories
from wfcore_dramatiq import App

ROOT = Path(__file__).resolve().parents[2]
ADDRESS = "ann@example.com"
ATTACKER = "attacker@evil.example"
SENT = [f"token {ADDRESS}", f"welcome {ADDRESS}", f"archive {ADDRESS}"]


@pytest.fixture(autouse=True)
def outbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The file the mail tasks append to; every test starts with it empty."""
    path = tmp_path / "outbox.txt"
    monkeypatch.setenv(mailer.OUTBOX, str(path))
    return path


@pytest.fixture
def histories(tmp_path: Path) -> tuple[Path, Path]:
    """A recorded signup history, and a copy whose leaf tasks' arguments an attacker edited."""
    runner, signup = mailer.build_runner()
    workflow_id = runner.start(signup, ADDRESS)
    runner.run_until_idle()
    assert runner.engine.result(workflow_id)[0] == f"token-for-{ADDRESS}"
    assert sorted(mailer.sent()) == sorted(SENT)
    good = tmp_path / "signup.wfh"
    good.write_bytes(export_history(runner.store, workflow_id))
    attacked = tmp_path / "signup-attacked.wfh"
    attacked.write_bytes(_edit_args(good.read_bytes(), {"mail.welcome", "mail.archive"}))
    return good, attacked


def _edit_args(data: bytes, task_names: set[str]) -> bytes:
    """The history file with the arguments of these tasks' invocations set to the attacker's."""
    document: Any = msgpack.unpackb(data, raw=False, strict_map_key=False)
    edited = 0
    for workflow in document["workflows"]:
        for invocation in workflow["invocations"]:
            if invocation["record"]["task_name"] in task_names:
                invocation["record"]["args"] = Codec().encode([[ATTACKER], {}])
                edited += 1
    assert edited == len(task_names)
    return bytes(msgpack.packb(document, use_bin_type=True))


def test_verify_replay_repeats_no_side_effect() -> None:
    # Given a signup workflow that ran on an App: its step and both leaf tasks sent mail
    with App(store="memory://", worker_threads=2) as app:
        signup = mailer.declare(lambda name, new: app.task(actor_name=name, force_new_workflow=new))
        handle = signup.send(ADDRESS)
        assert handle.result(timeout=30)[1] == f"welcomed {ADDRESS}"
        assert sorted(mailer.sent()) == sorted(SENT)

        # When it is verified, twice
        results = [app.verify_replay(handle.workflow_id) for _ in range(2)]

    # Then it matches, nothing was sent again, and the leaves are reported as settled
    assert all(result.ok for result in results), results[0].divergence
    assert sorted(mailer.sent()) == sorted(SENT)
    assert results[0].invocations == 1  # signup: the only invocation with operations
    assert len(results[0].settled) == 2  # mail.welcome and the root of mail.archive's workflow


def test_verify_replay_of_an_attacked_history_sends_nothing(histories: tuple[Path, Path]) -> None:
    # Given the attacked history in a store an App verifies from
    _, attacked = histories
    store, workflow_id = import_history(attacked.read_bytes())
    with App(store=store, worker_threads=1) as app:
        mailer.declare(lambda name, new: app.task(actor_name=name, force_new_workflow=new))
        # When it is verified
        result = app.verify_replay(workflow_id)
    # Then no leaf ran: nothing was sent, and nothing to the attacker's address
    assert result.ok, result.divergence
    assert sorted(mailer.sent()) == sorted(SENT)


def test_assert_replays_repeats_no_side_effect(histories: tuple[Path, Path]) -> None:
    runner, _ = mailer.build_runner()
    # When both histories are checked the way users' tests check them
    assert_replays(runner, *histories)
    [(_, good), (_, attacked)] = replay_histories(runner, *histories)
    # Then nothing was sent again
    assert sorted(mailer.sent()) == sorted(SENT)
    assert (good.invocations, len(good.settled)) == (1, 2)
    assert (attacked.invocations, len(attacked.settled)) == (1, 2)


def test_the_replay_cli_repeats_no_side_effect(histories: tuple[Path, Path], outbox: Path) -> None:
    # When CI runs `wfcore replay` on both files, in its own process
    proc = subprocess.run(
        [
            *_wfcore(),
            "--json",
            "replay",
            "--app",
            "tests.replay.mailer:runner",
            *map(str, histories),
        ],
        cwd=ROOT,
        env={**os.environ, mailer.OUTBOX: str(outbox)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Then both replay, and nothing was sent, not to the attacker either
    assert proc.returncode == 0, proc.stderr
    reports = json.loads(proc.stdout)
    assert [(r["ok"], r["invocations"], len(r["settled"])) for r in reports] == [(True, 1, 2)] * 2
    assert sorted(mailer.sent()) == sorted(SENT)


def _wfcore() -> list[str]:
    """The installed ``wfcore`` command (its console script), or the same entry point."""
    script = Path(sys.executable).with_name("wfcore")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from wfcore.cli import main; sys.exit(main())"]


def test_verification_logs_no_user_lines(
    histories: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    runner, _ = mailer.build_runner()
    with caplog.at_level(logging.DEBUG, logger="wfcore.task"):
        [(_, result)] = replay_histories(runner, histories[0])
    assert result.ok
    assert [r.getMessage() for r in caplog.records if r.name.startswith("wfcore.task")] == []


def test_edited_arguments_of_a_workflow_body_reach_only_its_plain_code(
    histories: tuple[Path, Path], tmp_path: Path
) -> None:
    # Given a history whose signup invocation (it recorded operations) got other arguments
    good, _ = histories
    attacked = tmp_path / "signup-body-attacked.wfh"
    attacked.write_bytes(_edit_args(good.read_bytes(), {"mail.signup"}))
    runner, _ = mailer.build_runner()
    # When it is verified
    [(_, result)] = replay_histories(runner, attacked)
    # Then the body ran again (with the edited arguments), but its step and children came from
    # the history: nothing was sent; and the recorded values still give the recorded outcome
    assert result.ok, result.divergence
    assert sorted(mailer.sent()) == sorted(SENT)
