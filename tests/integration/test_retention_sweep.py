"""Retention on a worker: the recovery sweep deletes finished workflows past ``retention=``."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from wfcore import WorkflowStatus
from wfcore_dramatiq import App


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_the_sweep_purges_expired_workflows_without_a_manual_purge(
    kind: str, tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path / 'r.sqlite3'}" if kind == "sqlite" else "memory://"
    app = App(store=store, retention=0.5, recovery_interval=0.2, stale_after=1.0)
    try:

        @app.task
        def short() -> str:
            return "done"

        @app.task
        def waits() -> object:
            return short.wf.wait_signal("never")

        finished = short.send_with_options()
        waiting = waits.send_with_options()
        assert finished.result(timeout=10) == "done"
        deadline = time.monotonic() + 10
        while app.store.get_workflow(finished.workflow_id) is not None:
            assert time.monotonic() < deadline, "the sweep never purged the finished workflow"
            time.sleep(0.1)
        record = app.store.get_workflow(waiting.workflow_id)
        assert record is not None
        assert record.status is WorkflowStatus.SUSPENDED
    finally:
        app.close()
