"""Builders of store records with test-friendly defaults."""

from __future__ import annotations

import time

from wfcore._models import InvocationRecord, WorkflowRecord


def workflow(
    workflow_id: str,
    *,
    workflow_type: str = "order",
    parent: str | None = None,
    root: str | None = None,
    created_at: float | None = None,
) -> tuple[WorkflowRecord, InvocationRecord]:
    """A workflow record and its root invocation ``<workflow_id>-root``."""
    now = time.time() if created_at is None else created_at
    root_inv = f"{workflow_id}-root"
    record = WorkflowRecord(
        workflow_id=workflow_id,
        workflow_type=workflow_type,
        parent_workflow_id=parent,
        root_workflow_id=root or workflow_id,
        root_invocation_id=root_inv,
        created_at=now,
        updated_at=now,
    )
    return record, invocation(workflow_id, root_inv, task=workflow_type, created_at=now)


def invocation(
    workflow_id: str,
    invocation_id: str,
    *,
    task: str = "step",
    parent_invocation_id: str | None = None,
    parent_seq: int | None = None,
    created_at: float | None = None,
) -> InvocationRecord:
    """An invocation record with empty encoded args."""
    now = time.time() if created_at is None else created_at
    return InvocationRecord(
        invocation_id=invocation_id,
        workflow_id=workflow_id,
        task_name=task,
        args=b"\x92\x90\x80",
        parent_workflow_id=workflow_id if parent_invocation_id else None,
        parent_invocation_id=parent_invocation_id,
        parent_seq=parent_seq,
        created_at=now,
        updated_at=now,
    )
