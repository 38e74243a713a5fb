"""``purge_finished``: deleting finished workflows older than a cut-off, on every store."""

from __future__ import annotations

import time

from tests.store.records import workflow
from wfcore._models import Batch, Finish, WorkflowStatus
from wfcore.store import StateStore


def _finished(store: StateStore, workflow_id: str, status: WorkflowStatus) -> None:
    record, root = workflow(workflow_id)
    store.create_workflow(record, root)
    store.load(workflow_id, root.invocation_id)
    store.commit(workflow_id, root.invocation_id, Batch(0, [b"a"], finish=Finish(status, b"r")))


def test_purge_finished_deletes_only_finished_workflows_before_the_cutoff(
    store: StateStore,
) -> None:
    # Given finished workflows, a running one and a pending one
    _finished(store, "done", WorkflowStatus.COMPLETED)
    _finished(store, "failed", WorkflowStatus.FAILED)
    record, root = workflow("running")
    store.create_workflow(record, root)
    store.load("running", root.invocation_id)
    pending, pending_root = workflow("pending")
    store.create_workflow(pending, pending_root)
    ids = ["done", "failed", "running", "pending", "missing"]
    # When purging with a cut-off before they finished: nothing goes
    assert store.purge_finished(ids, before=time.time() - 3600) == 0
    # Then with a later cut-off: only the finished ones go, with all they hold
    assert store.purge_finished(ids, before=time.time() + 1) == 2
    assert store.get_workflow("done") is None
    assert store.load("failed", "failed") is None
    assert sorted(w.workflow_id for w in store.list_workflows()) == ["pending", "running"]
    assert store.list_workflows(status=WorkflowStatus.COMPLETED) == []
    # And purging again deletes nothing more
    assert store.purge_finished(ids, before=time.time() + 1) == 0
