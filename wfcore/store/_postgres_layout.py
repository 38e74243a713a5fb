"""``PostgresStore``'s layout: its schema, versioned migrations, SQL statements and rows."""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from wfcore._models import InvocationRecord, WorkflowRecord, WorkflowStatus
from wfcore.store._sql_rows import INV_FIELDS, WF_FIELDS, invocation_record, workflow_record

__all__ = [
    "COUNT_MISSING",
    "ENTRIES",
    "FINISHED",
    "HEAD",
    "INSERT_ENTRY",
    "INSERT_INV",
    "INSERT_WF",
    "I_ATTEMPTS",
    "I_STATUS",
    "I_UPDATED",
    "KEY",
    "LOAD",
    "LOCK_WF",
    "MIGRATIONS",
    "N_INV",
    "SCHEMA_VERSION",
    "SELECT_INV",
    "SELECT_WF",
    "SET_INV",
    "SET_WF",
    "SIGNAL_TABLES",
    "STALE",
    "STALE_KEYS",
    "TOUCH_INV",
    "TOUCH_WF",
    "W_ROOT",
    "W_STATUS",
    "W_UPDATED",
    "invocation_from_row",
    "invocation_to_row",
    "wf_values",
    "workflow_from_row",
]

# The schema's version is the one row of wfcore_schema. MIGRATIONS[v] takes a schema at
# version v - 1 to v (version 0: no wfcore tables yet); a store opening a schema runs the
# missing ones, in one transaction under an advisory lock, so racing openers migrate once.
# "ord" columns (identity) keep insertion order, as SQLite's rowid does.
SCHEMA_VERSION = 1

MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE workflows (
            workflow_id text PRIMARY KEY, workflow_type text NOT NULL,
            parent_workflow_id text, root_workflow_id text NOT NULL,
            root_invocation_id text NOT NULL, parent_invocation_id text,
            status text NOT NULL, created_at double precision NOT NULL,
            updated_at double precision NOT NULL, cancel_requested boolean NOT NULL,
            idempotency_key text, expires_at double precision, deadline double precision,
            seed bytea, forked_from text, ord bigint GENERATED ALWAYS AS IDENTITY)""",
        "CREATE INDEX workflows_by_created ON workflows (created_at DESC, ord)",
        "CREATE INDEX workflows_by_status ON workflows (status, created_at DESC, ord)",
        "CREATE INDEX workflows_by_type ON workflows (workflow_type, created_at DESC, ord)",
        "CREATE INDEX workflows_by_parent ON workflows (parent_workflow_id, created_at, ord)",
        "CREATE INDEX workflows_by_expiry ON workflows (expires_at) WHERE expires_at IS NOT NULL",
        """CREATE TABLE invocations (
            workflow_id text NOT NULL, invocation_id text NOT NULL, task_name text NOT NULL,
            args bytea NOT NULL, parent_workflow_id text, parent_invocation_id text,
            parent_seq integer, status text NOT NULL, waiting integer[] NOT NULL,
            outcome bytea, attempts integer NOT NULL, created_at double precision NOT NULL,
            updated_at double precision NOT NULL, parent_task_name text,
            cancel_shielded boolean NOT NULL, missing integer,
            ord bigint GENERATED ALWAYS AS IDENTITY,
            PRIMARY KEY (workflow_id, invocation_id))""",
        "CREATE INDEX invocations_by_created ON invocations (workflow_id, created_at, ord)",
        "CREATE INDEX invocations_unfinished ON invocations (updated_at, workflow_id,"
        " invocation_id) WHERE status IN ('PENDING', 'RUNNING', 'SUSPENDED')",
        """CREATE TABLE entries (
            workflow_id text NOT NULL, invocation_id text NOT NULL, seq integer NOT NULL,
            data bytea NOT NULL, PRIMARY KEY (workflow_id, invocation_id, seq))""",
        """CREATE TABLE outcomes (
            workflow_id text NOT NULL, invocation_id text NOT NULL, seq integer NOT NULL,
            data bytea NOT NULL, PRIMARY KEY (workflow_id, invocation_id, seq))""",
        """CREATE TABLE data (
            workflow_id text NOT NULL, key text NOT NULL, value bytea NOT NULL,
            PRIMARY KEY (workflow_id, key))""",
        """CREATE TABLE signals (
            workflow_id text NOT NULL, name text NOT NULL, payload bytea NOT NULL,
            ord bigint GENERATED ALWAYS AS IDENTITY)""",
        "CREATE INDEX signals_by_name ON signals (workflow_id, name, ord)",
        """CREATE TABLE signal_waiters (
            workflow_id text NOT NULL, name text NOT NULL, invocation_id text NOT NULL,
            seq integer NOT NULL, ord bigint GENERATED ALWAYS AS IDENTITY)""",
        "CREATE INDEX signal_waiters_by_name ON signal_waiters (workflow_id, name, ord)",
        """CREATE TABLE signal_ids (
            workflow_id text NOT NULL, signal_id text NOT NULL,
            PRIMARY KEY (workflow_id, signal_id))""",
    ),
}
assert sorted(MIGRATIONS) == list(range(1, SCHEMA_VERSION + 1))

SIGNAL_TABLES = ("signals", "signal_waiters", "signal_ids")
FINISHED = frozenset(s.value for s in WorkflowStatus if s.finished)
KEY = "workflow_id = %s AND invocation_id = %s"
SELECT_WF = f"SELECT {', '.join(WF_FIELDS)} FROM workflows"
SELECT_INV = f"SELECT {', '.join(INV_FIELDS)} FROM invocations"
INSERT_WF, INSERT_INV = (
    f"INSERT INTO {table} ({', '.join(fields)}) VALUES ({', '.join(['%s'] * len(fields))})"
    " ON CONFLICT DO NOTHING RETURNING 1"
    for table, fields in (("workflows", WF_FIELDS), ("invocations", INV_FIELDS))
)
INSERT_ENTRY = "INSERT INTO entries (workflow_id, invocation_id, seq, data) VALUES (%s,%s,%s,%s)"
# Every write to a workflow's rows first takes this lock on its workflow row (several
# workflows: in workflow_id order), so writers of one workflow queue up and never deadlock.
LOCK_WF = "SELECT 1 FROM workflows WHERE workflow_id = %s FOR NO KEY UPDATE"
# One row: the invocation's columns, then its workflow's; the workflow locked with claim.
LOAD = (
    f"SELECT {', '.join('i.' + f for f in INV_FIELDS)}, {', '.join('w.' + f for f in WF_FIELDS)}"
    " FROM invocations i JOIN workflows w ON w.workflow_id = i.workflow_id"
    " WHERE i.workflow_id = %s AND i.invocation_id = %s"
)
N_INV = len(INV_FIELDS)
I_STATUS, I_ATTEMPTS, I_UPDATED = (
    INV_FIELDS.index(f) for f in ("status", "attempts", "updated_at")
)
W_ROOT, W_STATUS, W_UPDATED = (
    N_INV + WF_FIELDS.index(f) for f in ("root_invocation_id", "status", "updated_at")
)
# cancel flag, root invocation, status, waiting, missing, last seq, updated_at; locks the
# workflow row (see LOCK_WF).
HEAD = (
    "SELECT w.cancel_requested, w.root_invocation_id, i.status, i.waiting, i.missing,"
    " (SELECT max(seq) FROM entries e"
    "  WHERE e.workflow_id = i.workflow_id AND e.invocation_id = i.invocation_id),"
    " i.updated_at"
    " FROM invocations i JOIN workflows w ON w.workflow_id = i.workflow_id"
    " WHERE i.workflow_id = %s AND i.invocation_id = %s FOR NO KEY UPDATE OF w"
)
# How many of an array of seqs have no outcome yet.
COUNT_MISSING = (
    "SELECT count(*) FROM unnest(%s::integer[]) AS s(seq) WHERE NOT EXISTS (SELECT 1"
    " FROM outcomes o WHERE o.workflow_id = %s AND o.invocation_id = %s AND o.seq = s.seq)"
)
ENTRIES = f"SELECT data FROM entries WHERE {KEY} AND seq >= %s ORDER BY seq"
SET_INV = (
    f"UPDATE invocations SET status = %s, waiting = %s, missing = %s, updated_at = %s WHERE {KEY}"
)
# Progress marks an invocation (and a root's workflow) alive; never back (a hold is later).
TOUCH_INV = f"UPDATE invocations SET updated_at = greatest(updated_at, %s) WHERE {KEY}"
TOUCH_WF = "UPDATE workflows SET updated_at = greatest(updated_at, %s) WHERE workflow_id = %s"
# A NULL expiry keeps the stored one: only finishing the root starts retention.
SET_WF = (
    "UPDATE workflows SET status = %s, updated_at = %s, expires_at = coalesce(%s, expires_at)"
    " WHERE workflow_id = %s"
)
# The WHERE of invocations_unfinished, verbatim, so the planner can use that partial index.
STALE = "status IN ('PENDING', 'RUNNING', 'SUSPENDED') AND updated_at <= %s"
STALE_KEYS = (
    f"SELECT workflow_id, invocation_id FROM invocations WHERE {STALE}"
    " ORDER BY updated_at, workflow_id, invocation_id LIMIT %s"
)
wf_values = attrgetter(*WF_FIELDS)
_inv_values = attrgetter(*INV_FIELDS)
_WAITING = INV_FIELDS.index("waiting")
_REPAIR = "the database was changed outside wfcore or is damaged; fix the row or restore a backup"


def workflow_from_row(row: Sequence[Any]) -> WorkflowRecord:
    return workflow_record(dict(zip(WF_FIELDS, row, strict=False)), _REPAIR)


def invocation_from_row(row: Sequence[Any]) -> InvocationRecord:
    values = dict(zip(INV_FIELDS, row, strict=False))
    values["waiting"] = tuple(values["waiting"] or ())
    return invocation_record(values, _REPAIR)


def invocation_to_row(workflow_id: str, inv: InvocationRecord) -> list[Any]:
    row = list(_inv_values(inv))
    # Kept under the workflow that holds it, as MemoryStore keys it.
    row[1], row[_WAITING] = workflow_id, list(inv.waiting)
    return row
