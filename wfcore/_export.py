"""Exported histories: a workflow tree as one self-contained, versioned msgpack file."""

from __future__ import annotations

from typing import Any

import msgpack

from wfcore._identity import new_workflow_seed
from wfcore._models import InvocationRecord, WorkflowRecord
from wfcore.errors import DecodeError, WorkflowNotFoundError
from wfcore.store import StateStore
from wfcore.store.memory import MemoryStore

__all__ = ["FORMAT", "VERSION", "export_history", "import_history"]

FORMAT = "wfcore-history"
VERSION = 1


def export_history(store: StateStore, workflow_id: str) -> bytes:
    """The workflow, its child workflows, every invocation, history and child outcome.

    Never the workflows' secret seeds (``model_dump`` leaves them out): replaying a history
    returns its recorded values and draws none. ``seeded`` says a workflow had one, so that
    an import gives it a fresh secret rather than the old id-derived values.

    Raises:
        WorkflowNotFoundError: there is no such workflow.
    """
    root = store.get_workflow(workflow_id)
    if root is None:
        raise WorkflowNotFoundError(f"no workflow {workflow_id!r} in the store to export")
    workflows: list[dict[str, Any]] = []
    pending = [root]
    while pending:
        record = pending.pop(0)
        invocations = []
        for inv in store.list_invocations(record.workflow_id):
            snap = store.load(record.workflow_id, inv.invocation_id, claim=False)
            if snap is None:
                continue
            invocations.append(
                {
                    "record": snap.invocation.model_dump(mode="python"),
                    "entries": snap.entries,
                    "outcomes": snap.outcomes,
                }
            )
        workflows.append(
            {
                "record": record.model_dump(mode="python"),
                "seeded": record.seed is not None,
                "invocations": invocations,
            }
        )
        pending.extend(store.child_workflows(record.workflow_id))
    document = {"format": FORMAT, "version": VERSION, "root": workflow_id, "workflows": workflows}
    return bytes(msgpack.packb(document, use_bin_type=True))


def import_history(data: bytes, *, source: str = "history") -> tuple[MemoryStore, str]:
    """A memory store holding an exported history, and the exported root workflow's id.

    Raises:
        DecodeError: the bytes are not a wfcore history file of a version this code reads.
    """
    try:
        document = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types for corrupt input
        raise DecodeError(f"{source} is not a wfcore history file: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise DecodeError(f"{source} is not a wfcore history file (no {FORMAT!r} header)")
    if document.get("version") != VERSION:
        raise DecodeError(
            f"{source} is a version {document.get('version')!r} history; this wfcore reads "
            f"version {VERSION}. Upgrade wfcore to replay it"
        )
    store = MemoryStore()
    try:
        for workflow in document["workflows"]:
            record = WorkflowRecord.model_validate(workflow["record"])
            if workflow.get("seeded") is True:
                record = record.model_copy(update={"seed": new_workflow_seed()})
            invocations = [
                (InvocationRecord.model_validate(i["record"]), i) for i in workflow["invocations"]
            ]
            store._restore(
                record,
                [(inv, list(i["entries"]), dict(i["outcomes"])) for inv, i in invocations],
            )
        root = str(document["root"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DecodeError(f"{source} is a damaged wfcore history file: {exc}") from exc
    return store, root
