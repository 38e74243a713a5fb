"""``RedisStore`` records as hash fields: the field names its Lua scripts rely on."""

from __future__ import annotations

from collections.abc import Sequence

from wfcore._models import InvocationRecord, WorkflowRecord, WorkflowStatus

__all__ = ["invocation_fields", "invocation_from", "pairs", "workflow_fields", "workflow_from"]


def workflow_fields(r: WorkflowRecord) -> list[str | bytes]:
    """The workflow as a flat list of hash field names and values."""
    fields: list[str | bytes] = [
        "id",
        r.workflow_id,
        "type",
        r.workflow_type,
        "root",
        r.root_workflow_id,
    ]
    fields += ["root_inv", r.root_invocation_id, "status", r.status.value]
    fields += ["created_at", repr(float(r.created_at)), "updated_at", repr(float(r.updated_at))]
    fields += ["cancel", "1" if r.cancel_requested else "0"]
    for name, value in (
        ("parent", r.parent_workflow_id),
        ("parent_inv", r.parent_invocation_id),
        ("idem", r.idempotency_key),
        ("deadline", None if r.deadline is None else repr(float(r.deadline))),
        ("seed", r.seed),
        ("forked", r.forked_from),
    ):
        if value is not None:
            fields += [name, value]
    return fields


def invocation_fields(r: InvocationRecord) -> list[str | bytes]:
    """The invocation as a flat list of hash field names and values."""
    fields: list[str | bytes] = ["id", r.invocation_id, "wid", r.workflow_id]
    fields += ["task", r.task_name, "args", r.args, "status", r.status.value]
    fields += ["waiting", ",".join(str(seq) for seq in r.waiting), "attempts", str(r.attempts)]
    fields += ["created_at", repr(float(r.created_at)), "updated_at", repr(float(r.updated_at))]
    for name, value in (
        ("pwid", r.parent_workflow_id),
        ("piid", r.parent_invocation_id),
        ("pseq", None if r.parent_seq is None else str(r.parent_seq)),
        ("ptask", r.parent_task_name),
        ("shield", "1" if r.cancel_shielded else None),
        ("outcome", r.outcome),
    ):
        if value is not None:
            fields += [name, value]
    return fields


def pairs(flat: Sequence[bytes]) -> dict[bytes, bytes]:
    """A flat HGETALL reply from a script as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _text(fields: dict[bytes, bytes], name: bytes) -> str | None:
    value = fields.get(name)
    return None if value is None else value.decode()


_STATUSES = {status.value.encode(): status for status in WorkflowStatus}


def _status(raw: bytes) -> WorkflowStatus:
    return _STATUSES.get(raw) or WorkflowStatus(raw.decode())  # the latter raises: corrupt


def workflow_from(f: dict[bytes, bytes]) -> WorkflowRecord:
    """The workflow record stored in these hash fields."""
    return WorkflowRecord(
        workflow_id=f[b"id"].decode(),
        workflow_type=f[b"type"].decode(),
        parent_workflow_id=_text(f, b"parent"),
        root_workflow_id=f[b"root"].decode(),
        root_invocation_id=f[b"root_inv"].decode(),
        parent_invocation_id=_text(f, b"parent_inv"),
        status=_status(f[b"status"]),
        created_at=float(f[b"created_at"]),
        updated_at=float(f[b"updated_at"]),
        cancel_requested=f.get(b"cancel") == b"1",
        idempotency_key=_text(f, b"idem"),
        deadline=None if f.get(b"deadline") is None else float(f[b"deadline"]),
        seed=f.get(b"seed"),
        forked_from=_text(f, b"forked"),
    )


def invocation_from(f: dict[bytes, bytes]) -> InvocationRecord:
    """The invocation record stored in these hash fields."""
    waiting = f.get(b"waiting") or b""
    pseq = f.get(b"pseq")
    return InvocationRecord(
        invocation_id=f[b"id"].decode(),
        workflow_id=f[b"wid"].decode(),
        task_name=f[b"task"].decode(),
        args=f[b"args"],
        parent_workflow_id=_text(f, b"pwid"),
        parent_invocation_id=_text(f, b"piid"),
        parent_seq=None if pseq is None else int(pseq),
        parent_task_name=_text(f, b"ptask"),
        cancel_shielded=f.get(b"shield") == b"1",
        status=_status(f[b"status"]),
        waiting=tuple(int(seq) for seq in waiting.split(b",")) if waiting else (),
        outcome=f.get(b"outcome"),
        attempts=int(f[b"attempts"]),
        created_at=float(f[b"created_at"]),
        updated_at=float(f[b"updated_at"]),
    )
