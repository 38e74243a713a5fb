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
        DecodeError: the bytes are not a wfcore history file of a version this code reads,
            or the file is damaged (the message names the file and the part).
    """
    try:
        # No extension hook: a history file holds only maps, arrays, strings, numbers and
        # the stored values as opaque bytes. msgpack nests arrays and maps in a fixed stack
        # of its own (StackError past 1024), never on the C stack.
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
    where = "its header"
    try:
        root = _field(document, "root", str)
        for w, workflow in enumerate(_field(document, "workflows", list)):
            where = f"workflow {w}"
            record = WorkflowRecord.model_validate(_field(workflow, "record", dict))
            where = f"workflow {record.workflow_id!r}"
            if workflow.get("seeded") is True:
                record = record.model_copy(update={"seed": new_workflow_seed()})
            invocations = []
            for i, invocation in enumerate(_field(workflow, "invocations", list)):
                where = f"invocation {i} of workflow {record.workflow_id!r}"
                inv = InvocationRecord.model_validate(_field(invocation, "record", dict))
                where = f"invocation {inv.invocation_id!r} of workflow {record.workflow_id!r}"
                invocations.append((inv, _entries(invocation), _outcomes(invocation)))
            store._restore(record, invocations)
    except (KeyError, TypeError, ValueError) as exc:  # pydantic's ValidationError included
        raise DecodeError(f"{source} is a damaged wfcore history file ({where}): {exc}") from exc
    if store.get_workflow(root) is None:
        raise DecodeError(f"{source} is a damaged wfcore history file: no root workflow {root!r}")
    return store, root


def _field(document: Any, key: str, kind: type) -> Any:
    if not isinstance(document, dict):
        raise TypeError(f"expected a map holding {key!r}, got {type(document).__qualname__}")
    value = document[key]
    if type(value) is not kind:
        raise TypeError(f"{key!r} is {type(value).__qualname__}, expected {kind.__qualname__}")
    return value


def _entries(invocation: dict[str, Any]) -> list[bytes]:
    entries: list[bytes] = _field(invocation, "entries", list)
    for seq, entry in enumerate(entries):
        if type(entry) is not bytes or not entry:
            raise TypeError(f"history entry {seq} is {_shown(entry)}, expected non-empty bytes")
    return entries


def _outcomes(invocation: dict[str, Any]) -> dict[int, bytes]:
    outcomes: dict[int, bytes] = _field(invocation, "outcomes", dict)
    for seq, outcome in outcomes.items():
        if type(seq) is not int or type(outcome) is not bytes or not outcome:
            raise TypeError(
                f"outcome {seq!r} is {_shown(outcome)}, expected non-empty bytes at an int seq"
            )
    return outcomes


def _shown(value: object) -> str:
    return "empty bytes" if value == b"" else type(value).__qualname__
