"""``SQLiteStore``'s layout: its schema, migrations, SQL statements and row conversions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from wfcore._models import InvocationRecord, WorkflowRecord, WorkflowStatus
from wfcore.errors import DecodeError
from wfcore.store._sql_dialect import Dialect
from wfcore.store._sql_rows import INV_FIELDS, WF_FIELDS, invocation_record, shown, workflow_record

__all__ = [
    "COUNT_MISSING",
    "DROPPED_INDEXES",
    "ENTRIES",
    "FINISHED",
    "HEAD",
    "INSERT_INV",
    "INSERT_WF",
    "I_ATTEMPTS",
    "I_STATUS",
    "I_UPDATED",
    "KEY",
    "LISTING_INDEXES",
    "LOAD",
    "MIGRATIONS",
    "NEW_TABLES",
    "NO_WAIT",
    "N_INV",
    "N_LOAD",
    "SCHEMA",
    "SCHEMA_VERSION",
    "SELECT_INV",
    "SELECT_WF",
    "SIGNAL_TABLES",
    "STALE",
    "STALE_ROWS",
    "WRITE",
    "W_ROOT",
    "W_STATUS",
    "W_UPDATED",
    "awaits",
    "bad_waiting",
    "invocation_from_row",
    "invocation_to_row",
    "waiting_text",
    "wf_values",
    "workflow_from_row",
]

# 2 added invocations_unfinished; opening a version-1 file adds it (every statement of the
# schema is IF NOT EXISTS, so re-running the whole schema migrates). 3 added
# invocations.missing, 4 workflows.seed (NULL in older rows: their values keep the old
# derivation), both added to older files by MIGRATIONS. 5 added the signal tables
# (signals, signal_waiters, signal_ids; see NEW_TABLES), created in older files by re-running
# the schema. 6 added workflows.forked_from (the lineage of a fork; NULL in older rows,
# which were started, never forked), by MIGRATIONS. 7 replaced the listing indexes with
# ones ending in workflow_id (LISTING_INDEXES; the listing's order and keyset cursor), which
# re-running the schema creates; the old ones (DROPPED_INDEXES) are dropped.
# 8 added invocations.history_epoch (bumped when a resume rewrites a history, see
# wfcore.store.incremental; 0 in older rows), by MIGRATIONS. Every step is idempotent (the
# schema re-run, missing columns added), so a file of any older version upgrades to 8.
SCHEMA_VERSION = 8

# Indexes of older versions that newer ones replace: dropped by the upgrade.
DROPPED_INDEXES = ("workflows_by_created", "workflows_by_status", "workflows_by_type")
# One per filter combination of list_workflows, each ending in the listing order (created_at,
# workflow_id), so a page (first or deep, by cursor) is a short walk down one index.
LISTING_INDEXES = {
    "workflows_listed": "(created_at, workflow_id)",
    "workflows_listed_by_status": "(status, created_at, workflow_id)",
    "workflows_listed_by_type": "(workflow_type, created_at, workflow_id)",
    "workflows_listed_by_status_type": "(status, workflow_type, created_at, workflow_id)",
}

_WF_FIELDS, _INV_FIELDS = WF_FIELDS, INV_FIELDS

# Tables added after version 4 (name: statement). Signals buffered per (workflow, name) in
# rowid order (a new rowid is above every stored one, so the order is acceptance order);
# waits registered per (workflow, name) likewise; ids of signals accepted with one.
NEW_TABLES = {
    "signals": "CREATE TABLE IF NOT EXISTS signals (workflow_id TEXT NOT NULL,"
    " name TEXT NOT NULL, payload BLOB NOT NULL)",
    "signals_by_name": "CREATE INDEX IF NOT EXISTS signals_by_name ON signals (workflow_id, name)",
    "signal_waiters": "CREATE TABLE IF NOT EXISTS signal_waiters (workflow_id TEXT NOT NULL,"
    " name TEXT NOT NULL, invocation_id TEXT NOT NULL, seq INTEGER NOT NULL)",
    "signal_waiters_by_name": "CREATE INDEX IF NOT EXISTS signal_waiters_by_name"
    " ON signal_waiters (workflow_id, name)",
    "signal_ids": "CREATE TABLE IF NOT EXISTS signal_ids (workflow_id TEXT NOT NULL,"
    " signal_id TEXT NOT NULL, PRIMARY KEY (workflow_id, signal_id)) WITHOUT ROWID",
}

SIGNAL_TABLES = ("signals", "signal_waiters", "signal_ids")

SCHEMA = """
CREATE TABLE IF NOT EXISTS workflows (
    workflow_id TEXT PRIMARY KEY, workflow_type TEXT NOT NULL, parent_workflow_id TEXT,
    root_workflow_id TEXT NOT NULL, root_invocation_id TEXT NOT NULL,
    parent_invocation_id TEXT, status TEXT NOT NULL, created_at REAL NOT NULL,
    updated_at REAL NOT NULL, cancel_requested INTEGER NOT NULL, idempotency_key TEXT,
    expires_at REAL, deadline REAL, seed BLOB, forked_from TEXT);
{listing}CREATE INDEX IF NOT EXISTS workflows_by_parent
    ON workflows (parent_workflow_id, created_at);
CREATE INDEX IF NOT EXISTS workflows_by_expiry ON workflows (expires_at)
    WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS invocations (
    workflow_id TEXT NOT NULL, invocation_id TEXT NOT NULL, task_name TEXT NOT NULL,
    args BLOB NOT NULL, parent_workflow_id TEXT, parent_invocation_id TEXT,
    parent_seq INTEGER, status TEXT NOT NULL, waiting TEXT NOT NULL, outcome BLOB,
    attempts INTEGER NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    parent_task_name TEXT, cancel_shielded INTEGER NOT NULL DEFAULT 0, missing INTEGER,
    history_epoch INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (workflow_id, invocation_id));
CREATE INDEX IF NOT EXISTS invocations_by_created ON invocations (workflow_id, created_at);
CREATE INDEX IF NOT EXISTS invocations_unfinished
    ON invocations (updated_at, workflow_id, invocation_id)
    WHERE status IN ('PENDING', 'RUNNING', 'SUSPENDED');
CREATE TABLE IF NOT EXISTS entries (
    workflow_id TEXT NOT NULL, invocation_id TEXT NOT NULL, seq INTEGER NOT NULL,
    data BLOB NOT NULL, PRIMARY KEY (workflow_id, invocation_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outcomes (
    workflow_id TEXT NOT NULL, invocation_id TEXT NOT NULL, seq INTEGER NOT NULL,
    data BLOB NOT NULL, PRIMARY KEY (workflow_id, invocation_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS data (
    workflow_id TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (workflow_id, key)) WITHOUT ROWID;
{tables}""".format(
    listing="".join(
        f"CREATE INDEX IF NOT EXISTS {name} ON workflows {columns};\n"
        for name, columns in LISTING_INDEXES.items()
    ),
    tables="".join(f"{sql};\n" for sql in NEW_TABLES.values()),
)


# Columns added after a table was first released: (table, column, definition).
MIGRATIONS = (
    ("invocations", "missing", "INTEGER"),
    ("workflows", "seed", "BLOB"),
    ("workflows", "forked_from", "TEXT"),
    ("invocations", "history_epoch", "INTEGER NOT NULL DEFAULT 0"),
)

WRITE = "BEGIN IMMEDIATE"
NO_WAIT = "[]"
FINISHED = frozenset(s.value for s in WorkflowStatus if s.finished)
KEY = "workflow_id = ? AND invocation_id = ?"
SELECT_WF = f"SELECT {', '.join(_WF_FIELDS)} FROM workflows"
SELECT_INV = f"SELECT {', '.join(_INV_FIELDS)} FROM invocations"
INSERT_WF, INSERT_INV = (
    f"INSERT OR IGNORE INTO {table} ({', '.join(fields)}) VALUES ({', '.join('?' * len(fields))})"
    for table, fields in (("workflows", _WF_FIELDS), ("invocations", _INV_FIELDS))
)
# The invocation's row, its workflow's, then the invocation's history_epoch (at N_LOAD).
LOAD = (
    f"SELECT {', '.join('i.' + f for f in _INV_FIELDS)}, {', '.join('w.' + f for f in _WF_FIELDS)}"
    ", i.history_epoch FROM invocations i JOIN workflows w ON w.workflow_id = i.workflow_id"
    " WHERE i.workflow_id = ? AND i.invocation_id = ?"
)
N_INV = len(_INV_FIELDS)
N_LOAD = N_INV + len(_WF_FIELDS)
I_STATUS, I_ATTEMPTS, I_UPDATED = (
    _INV_FIELDS.index(f) for f in ("status", "attempts", "updated_at")
)
W_ROOT, W_STATUS, W_UPDATED = (
    N_INV + _WF_FIELDS.index(f) for f in ("root_invocation_id", "status", "updated_at")
)
HEAD = (
    "SELECT w.cancel_requested, w.root_invocation_id, i.status, i.waiting, i.missing,"
    " (SELECT max(seq) FROM entries e"
    "  WHERE e.workflow_id = i.workflow_id AND e.invocation_id = i.invocation_id),"
    " i.updated_at"
    " FROM invocations i JOIN workflows w ON w.workflow_id = i.workflow_id"
    " WHERE i.workflow_id = ? AND i.invocation_id = ?"
)
# Of a JSON list of seqs: whether some has no outcome yet (stops at the first one missing),
# how many have none.
_NOT_RECORDED = (
    "FROM json_each(?) j WHERE NOT EXISTS (SELECT 1 FROM outcomes o"
    " WHERE o.workflow_id = ? AND o.invocation_id = ? AND o.seq = j.value)"
)
COUNT_MISSING = f"SELECT count(*) {_NOT_RECORDED}"
ENTRIES = f"SELECT data FROM entries WHERE {KEY} AND seq >= ? ORDER BY seq"
# The WHERE of invocations_unfinished, verbatim, so the planner can use that partial index;
# its columns also give the order (oldest first, ties by id) without a sort.
_UNFINISHED = "status IN ('PENDING', 'RUNNING', 'SUSPENDED')"
STALE = f"WHERE {_UNFINISHED} AND updated_at <= ?"
STALE_ROWS = f"{SELECT_INV} {STALE} ORDER BY updated_at, workflow_id, invocation_id LIMIT ?"
wf_values = attrgetter(*_WF_FIELDS)
_inv_values = attrgetter(*_INV_FIELDS)


def workflow_from_row(row: Sequence[Any]) -> WorkflowRecord:
    return workflow_record(dict(zip(_WF_FIELDS, row, strict=False)), _REPAIR)


def invocation_from_row(row: Sequence[Any]) -> InvocationRecord:
    values = dict(zip(_INV_FIELDS, row, strict=False))
    waiting = values["waiting"]
    if waiting != NO_WAIT:
        try:
            seqs = json.loads(waiting)
        except (TypeError, ValueError):
            seqs = None
        if type(seqs) is not list or not all(type(seq) is int for seq in seqs):
            raise bad_waiting(values["workflow_id"], values["invocation_id"], waiting)
        values["waiting"] = tuple(seqs)
    else:
        values["waiting"] = ()
    return invocation_record(values, _REPAIR)


_REPAIR = "the file was changed outside wfcore or is damaged; restore it from a backup"


def bad_waiting(workflow_id: str, invocation_id: str, waiting: object) -> DecodeError:
    """The error for a ``waiting`` column that is not a JSON list of sequence numbers."""
    return DecodeError(
        f"cannot read the row of invocation {invocation_id!r} of workflow {workflow_id!r}: "
        f"its 'waiting' column (table invocations) holds {shown(waiting)}, not a JSON list "
        f"of sequence numbers; {_REPAIR}"
    )


def invocation_to_row(workflow_id: str, inv: InvocationRecord) -> list[Any]:
    row = list(_inv_values(inv))
    # Kept under the workflow that holds it, as MemoryStore keys it.
    row[1], row[8] = workflow_id, waiting_text(inv.waiting)
    return row


def waiting_text(seqs: Sequence[int]) -> str:
    return json.dumps(list(seqs), separators=(",", ":")) if seqs else NO_WAIT


def awaits(waiting: str, seq: int) -> bool:
    """Whether ``seq`` is in a list ``waiting`` wrote (a substring search, not a parse)."""
    return f",{seq}," in f",{waiting[1:-1]},"


# What the statements SQLite shares with PostgreSQL (store/_sql_*.py) need to know of it.
DIALECT = Dialect(
    placeholder="?",
    lock="",  # every write transaction is BEGIN IMMEDIATE: it holds the whole file
    order="rowid",
    no_wait=NO_WAIT,
    insert_wf=INSERT_WF,
    insert_inv=INSERT_INV,
    select_wf=SELECT_WF,
    select_inv=SELECT_INV,
    listed_id="workflow_id",  # TEXT compares by memcmp: UTF-8 byte order is code-point order
    no_limit=-1,
    greatest="max",
    workflow_from_row=workflow_from_row,
    invocation_from_row=invocation_from_row,
    invocation_to_row=invocation_to_row,
    waiting=waiting_text,
    awaits=awaits,
    count_missing=COUNT_MISSING,
)
