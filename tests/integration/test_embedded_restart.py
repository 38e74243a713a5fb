"""The embedded App resumes work a killed process left, in real processes.

A process starts workflows that sleep and is SIGKILLed while they are suspended: its
in-memory broker, with their wake-ups, is gone. A new process that only waits for them
(``handle.result``), only calls ``app.recover()``, or runs ``wfcore worker`` finishes them.
The App of ``tests/integration/apps/sleepers.py`` sweeps every 0.3 s, stale after 1 s.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dramatiq.brokers.stub import StubBroker

from tests.integration.harness import ROOT
from wfcore import WorkflowStatus, open_store
from wfcore.errors import ConfigurationError
from wfcore_dramatiq import App
from wfcore_dramatiq._foreground import serve

SLEEP = 2.0
"""Seconds each workflow sleeps."""

WFCORE = Path(sys.executable).parent / "wfcore"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Environment of the helper processes: the shared SQLite file, the repository on path."""
    store = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    return {**os.environ, "WFCORE_IT_SLEEPERS_STORE": store, "PYTHONPATH": str(ROOT)}


def _helper(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.apps.sleepers", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _statuses(env: dict[str, str], ids: list[str]) -> list[WorkflowStatus]:
    store = open_store(env["WFCORE_IT_SLEEPERS_STORE"])
    try:
        found = [store.get_workflow(i) for i in ids]
        return [w.status for w in found if w is not None]
    finally:
        store.close()


@pytest.fixture
def orphans(env: dict[str, str]) -> list[str]:
    """Ids of 5 sleeping workflows whose process was SIGKILLed while they were suspended."""
    proc = _helper(env, "start", "5", str(SLEEP))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, proc.communicate(timeout=10)[1][-3000:]
        ids: list[str] = json.loads(line)
    finally:
        proc.kill()  # SIGKILL: no atexit, no worker stop, the wake-ups are lost
        proc.communicate(timeout=10)
    assert _statuses(env, ids) == [WorkflowStatus.SUSPENDED] * 5
    return ids


def test_a_new_process_that_only_waits_gets_the_results(
    env: dict[str, str], orphans: list[str]
) -> None:
    # Given sleeping workflows whose process was killed
    # When a new process only calls app.handle(id).result(timeout=...)
    out, err = _helper(env, "wait", *orphans).communicate(timeout=50)

    # Then it gets every result: waiting started its worker and recovery sweep
    assert out, err[-3000:]
    assert json.loads(out) == [i * 10 for i in range(5)]


def test_a_new_process_that_only_recovers_finishes_the_work(
    env: dict[str, str], orphans: list[str]
) -> None:
    # Given sleeping workflows whose process was killed
    # When a new process only calls app.recover() and then polls status()
    out, err = _helper(env, "recover", *orphans).communicate(timeout=50)

    # Then the messages recover() queued were read: every workflow completed
    assert out, err[-3000:]
    assert json.loads(out) == ["COMPLETED"] * 5


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_wfcore_worker_finishes_orphaned_work_and_stops_cleanly(
    env: dict[str, str], orphans: list[str], tmp_path: Path, stop: signal.Signals
) -> None:
    # Given sleeping workflows whose process was killed
    # When `wfcore worker --app ...` runs in the foreground
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(WFCORE), "worker", "--app", "tests.integration.apps.sleepers:app"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while _statuses(env, orphans) != [WorkflowStatus.COMPLETED] * 5:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.1)

        # Then it finished them, and a signal stops it cleanly (exit 0, not a traceback)
        proc.send_signal(stop)
        assert proc.wait(timeout=20) == 0, log_path.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    text = log_path.read_text()
    assert "wfcore worker for tests.integration.apps.sleepers:app ready" in text
    assert "stopped" in text
    assert "Traceback" not in text


def test_wfcore_worker_refuses_an_app_on_a_broker(tmp_path: Path) -> None:
    # Given an App on a broker of its own (its workers are `dramatiq` processes)
    app = App(broker=StubBroker(), store=f"sqlite:///{tmp_path / 'b.sqlite3'}")
    try:
        # When `wfcore worker` is pointed at it
        # Then it is refused, naming the Dramatiq way to start its workers
        with pytest.raises(ConfigurationError, match=r"`dramatiq pkg\.mod`"):
            serve(app, "pkg.mod:app")
    finally:
        app.close()
