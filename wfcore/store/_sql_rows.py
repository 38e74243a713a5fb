"""What the SQL stores (SQLite, PostgreSQL) share about rows: the columns of a workflow and
of an invocation, and how a row becomes a record (or a ``DecodeError`` naming the damage)."""

from __future__ import annotations

from operator import attrgetter
from typing import Any

from pydantic import ValidationError

from wfcore._models import InvocationRecord, WorkflowRecord
from wfcore.errors import DecodeError

__all__ = [
    "INV_FIELDS",
    "WF_FIELDS",
    "invocation_record",
    "shown",
    "wf_values",
    "workflow_record",
]

WF_FIELDS = (
    "workflow_id", "workflow_type", "parent_workflow_id", "root_workflow_id",
    "root_invocation_id", "parent_invocation_id", "status", "created_at", "updated_at",
    "cancel_requested", "idempotency_key", "deadline", "seed", "forked_from",
)  # fmt: skip
INV_FIELDS = (
    "invocation_id", "workflow_id", "task_name", "args", "parent_workflow_id",
    "parent_invocation_id", "parent_seq", "status", "waiting", "outcome", "attempts",
    "created_at", "updated_at", "parent_task_name", "cancel_shielded",
)  # fmt: skip
wf_values = attrgetter(*WF_FIELDS)
"""A workflow record's values in the order of WF_FIELDS."""


def workflow_record(values: dict[str, Any], repair: str) -> WorkflowRecord:
    """The workflow of a row's ``values``; ``repair`` says what to do when they are damaged."""
    try:
        return WorkflowRecord.model_validate(values)
    except ValidationError as e:
        where = f"the row of workflow {values['workflow_id']!r}"
        raise _damaged(where, "workflows", e, repair) from None


def invocation_record(values: dict[str, Any], repair: str) -> InvocationRecord:
    """The invocation of a row's ``values`` (``waiting`` already a tuple of ints)."""
    try:
        return InvocationRecord.model_validate(values)
    except ValidationError as e:
        where = f"the row of invocation {values['invocation_id']!r} of workflow "
        raise _damaged(f"{where}{values['workflow_id']!r}", "invocations", e, repair) from None


def _damaged(where: str, table: str, error: ValidationError, repair: str) -> DecodeError:
    problems = "; ".join(
        f"column {'.'.join(map(str, e['loc']))!r} holds {shown(e['input'])}: {e['msg']}"
        for e in error.errors(include_url=False)
    )
    return DecodeError(f"cannot read {where} (table {table}): {problems}; {repair}")


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
