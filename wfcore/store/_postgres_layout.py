"""``PostgresStore``'s layout: its schema, versioned migrations, SQL statements and rows."""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from wfcore._models import InvocationRecord, WorkflowRecord
from wfcore.store._sql_dialect import FINISHED, Dialect
from wfcore.store._sql_rows import INV_FIELDS, WF_FIELDS, invocation_record, workflow_record

__all__ = [
    "DIALECT",
    "APPEND_CALL",
    "COUNT_MISSING",
    "CREATE",
    "FINISHED",
    "HEAD",
    "INSERT_INV",
    "INSERT_WF",
    "KEY",
    "LISTED_ID",
    "LISTING_INDEXES",
    "LOAD_CALL",
    "LOAD_SINCE_CALL",
    "LOCK_WF",
    "MIGRATIONS",
    "N_INV",
    "N_LOADED",
    "SCHEMA_VERSION",
    "SELECT_INV",
    "SELECT_WF",
    "SIGNAL_TABLES",
    "STALE",
    "STALE_KEYS",
    "invocation_from_row",
    "invocation_to_row",
    "wf_values",
    "workflow_from_row",
]

# The schema's version is the one row of wfcore_schema. MIGRATIONS[v] takes a schema at
# version v - 1 to v (version 0: no wfcore tables yet); a store opening a schema runs the
# missing ones, in one transaction under an advisory lock, so racing openers migrate once.
# "ord" columns (identity) keep insertion order, as SQLite's rowid does. 2 replaced the
# listing indexes of 1 (ties by ord) with LISTING_INDEXES (the keyset order of
# wfcore.store.listing: ties by workflow_id in code-point order, whatever the database's
# collation). 3 added invocations.history_epoch (bumped by reopen, see
# wfcore.store.incremental; 0 in older rows) and wfcore_load_since.
SCHEMA_VERSION = 3

# Ids compare in code-point order (COLLATE "C": UTF-8 byte order), as on every store.
LISTED_ID = 'workflow_id COLLATE "C"'
# One per filter combination of list_workflows, each ending in the listing order (created_at,
# workflow_id), so a page (first or deep, by cursor) is a short walk down one index.
LISTING_INDEXES = {
    "workflows_listed": f"(created_at, {LISTED_ID})",
    "workflows_listed_by_status": f"(status, created_at, {LISTED_ID})",
    "workflows_listed_by_type": f"(workflow_type, created_at, {LISTED_ID})",
    "workflows_listed_by_status_type": f"(status, workflow_type, created_at, {LISTED_ID})",
}

# Column types, in the order of WF_FIELDS and INV_FIELDS (the server-side functions return
# rows of these columns too).
WF_TYPES = dict(
    zip(
        WF_FIELDS,
        ("text", "text", "text", "text", "text", "text", "text", "double precision",
         "double precision", "boolean", "text", "double precision", "bytea", "text"),
        strict=True,
    )
)  # fmt: skip
INV_TYPES = dict(
    zip(
        INV_FIELDS,
        ("text", "text", "text", "bytea", "text", "text", "integer", "text", "integer[]",
         "bytea", "integer", "double precision", "double precision", "text", "boolean"),
        strict=True,
    )
)  # fmt: skip
_REQUIRED = {
    "workflow_id", "workflow_type", "root_workflow_id", "root_invocation_id", "status",
    "created_at", "updated_at", "cancel_requested", "invocation_id", "task_name", "args",
    "waiting", "attempts", "cancel_shielded",
}  # fmt: skip


def _columns(types: dict[str, str]) -> str:
    return ", ".join(
        f"{name} {kind}{' NOT NULL' if name in _REQUIRED else ''}" for name, kind in types.items()
    )


# Server-side functions for the hot paths: each is one round trip (one statement in
# autocommit mode, so one transaction) where the same steps as statements would take
# several. In READ COMMITTED each query in a (volatile) function reads a fresh snapshot, so
# the reads after the lock see every write committed before it, as separate statements do.
_LOAD_COLUMNS = ", ".join(
    [f"i_{name} {kind}" for name, kind in INV_TYPES.items()]
    + [f"w_{name} {kind}" for name, kind in WF_TYPES.items()]
    + ["r_entries bytea[]", "r_outcome_seqs integer[]", "r_outcome_data bytea[]"]
)
_LOAD_SELECT = (
    f"SELECT {', '.join('i.' + f for f in INV_FIELDS)}, {', '.join('w.' + f for f in WF_FIELDS)},"
    " ARRAY(SELECT e.data FROM entries e WHERE e.workflow_id = p_wid"
    "  AND e.invocation_id = p_iid ORDER BY e.seq),"
    " ARRAY(SELECT o.seq FROM outcomes o WHERE o.workflow_id = p_wid"
    "  AND o.invocation_id = p_iid ORDER BY o.seq),"
    " ARRAY(SELECT o.data FROM outcomes o WHERE o.workflow_id = p_wid"
    "  AND o.invocation_id = p_iid ORDER BY o.seq)"
    " FROM invocations i JOIN workflows w ON w.workflow_id = i.workflow_id"
    " WHERE i.workflow_id = p_wid AND i.invocation_id = p_iid"
)
_LOAD_SINCE_SELECT = (
    f"SELECT {', '.join('i.' + f for f in INV_FIELDS)}, {', '.join('w.' + f for f in WF_FIELDS)},"
    " ARRAY(SELECT e.data FROM entries e WHERE e.workflow_id = p_wid"
    "  AND e.invocation_id = p_iid AND e.seq >= p_from ORDER BY e.seq),"
    " ARRAY(SELECT o.seq FROM outcomes o WHERE o.workflow_id = p_wid"
    "  AND o.invocation_id = p_iid AND (p_all OR o.seq = ANY (p_open)) ORDER BY o.seq),"
    " ARRAY(SELECT o.data FROM outcomes o WHERE o.workflow_id = p_wid"
    "  AND o.invocation_id = p_iid AND (p_all OR o.seq = ANY (p_open)) ORDER BY o.seq),"
    " i.history_epoch,"
    " (SELECT count(*) FROM outcomes o WHERE o.workflow_id = p_wid AND o.invocation_id = p_iid)"
    " FROM invocations i JOIN workflows w ON w.workflow_id = i.workflow_id"
    " WHERE i.workflow_id = p_wid AND i.invocation_id = p_iid"
)
LOAD_CALL = "SELECT * FROM wfcore_load(%s, %s, %s, %s)"
LOAD_SINCE_CALL = "SELECT * FROM wfcore_load_since(%s, %s, %s, %s, %s, %s, %s)"
# With p_claim: lock the workflow and make an unfinished invocation RUNNING (and a root's
# workflow), as load() does.
_CLAIM = """        IF p_claim THEN
            PERFORM 1 FROM workflows WHERE workflow_id = p_wid FOR NO KEY UPDATE;
            UPDATE invocations SET status = 'RUNNING', attempts = attempts + 1,
                updated_at = p_now
                WHERE workflow_id = p_wid AND invocation_id = p_iid
                AND status IN ('PENDING', 'RUNNING', 'SUSPENDED');
            IF FOUND THEN
                UPDATE workflows SET status = 'RUNNING', updated_at = p_now
                    WHERE workflow_id = p_wid AND root_invocation_id = p_iid;
            END IF;
        END IF;
"""
APPEND_CALL = "SELECT * FROM wfcore_append(%s, %s, %s, %s, %s, %s, %s, %s, %s)"
N_LOADED = len(INV_FIELDS) + len(WF_FIELDS)
FUNCTIONS = (
    # load(): with claim, lock the workflow and make an unfinished invocation RUNNING (and a
    # root's workflow), then read it all; no rows when the invocation does not exist.
    f"""CREATE FUNCTION wfcore_load(p_wid text, p_iid text, p_claim boolean,
        p_now double precision) RETURNS TABLE ({_LOAD_COLUMNS}) LANGUAGE plpgsql AS $$
    BEGIN
{_CLAIM}        RETURN QUERY {_LOAD_SELECT};
    END $$""",
    # commit() of a batch of entries, optionally finishing the invocation (no data, children,
    # signal, suspend or parent: those take the general path). o_found: the invocation
    # exists; o_ok: the history held p_base entries (else o_winners: those from p_base on).
    """CREATE FUNCTION wfcore_append(p_wid text, p_iid text, p_base integer,
        p_entries bytea[], p_now double precision, p_mark_every double precision,
        p_status text, p_outcome bytea, p_retention double precision,
        OUT o_found boolean, OUT o_cancel boolean, OUT o_ok boolean, OUT o_winners bytea[])
        LANGUAGE plpgsql AS $$
    DECLARE
        h_root text;
        h_updated double precision;
        h_last integer;
    BEGIN
        o_found := false; o_cancel := false; o_ok := false;
        PERFORM 1 FROM workflows WHERE workflow_id = p_wid FOR NO KEY UPDATE;
        SELECT w.cancel_requested, w.root_invocation_id, i.updated_at,
            (SELECT max(e.seq) FROM entries e
             WHERE e.workflow_id = p_wid AND e.invocation_id = p_iid)
            INTO o_cancel, h_root, h_updated, h_last
            FROM invocations i JOIN workflows w ON w.workflow_id = i.workflow_id
            WHERE i.workflow_id = p_wid AND i.invocation_id = p_iid;
        IF h_root IS NULL THEN
            o_cancel := false;
            RETURN;
        END IF;
        o_found := true;
        IF coalesce(h_last + 1, 0) <> p_base THEN
            o_winners := ARRAY(SELECT e.data FROM entries e WHERE e.workflow_id = p_wid
                AND e.invocation_id = p_iid AND e.seq >= p_base ORDER BY e.seq);
            RETURN;
        END IF;
        o_ok := true;
        INSERT INTO entries (workflow_id, invocation_id, seq, data)
            SELECT p_wid, p_iid, p_base + t.n - 1, t.e
            FROM unnest(p_entries) WITH ORDINALITY AS t(e, n);
        IF p_status IS NOT NULL THEN
            UPDATE invocations SET status = p_status, outcome = p_outcome, waiting = '{}',
                updated_at = p_now WHERE workflow_id = p_wid AND invocation_id = p_iid;
            IF h_root = p_iid THEN
                UPDATE workflows SET status = p_status, updated_at = p_now,
                    expires_at = coalesce(p_now + p_retention, expires_at)
                    WHERE workflow_id = p_wid;
            END IF;
        ELSIF h_updated < p_now - p_mark_every THEN
            UPDATE invocations SET updated_at = greatest(updated_at, p_now)
                WHERE workflow_id = p_wid AND invocation_id = p_iid;
            IF h_root = p_iid THEN
                UPDATE workflows SET updated_at = greatest(updated_at, p_now)
                    WHERE workflow_id = p_wid;
            END IF;
        END IF;
    END $$""",
)


MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        f"""CREATE TABLE workflows ({_columns(WF_TYPES)}, expires_at double precision,
            ord bigint GENERATED ALWAYS AS IDENTITY, PRIMARY KEY (workflow_id))""",
        "CREATE INDEX workflows_by_created ON workflows (created_at DESC, ord)",
        "CREATE INDEX workflows_by_status ON workflows (status, created_at DESC, ord)",
        "CREATE INDEX workflows_by_type ON workflows (workflow_type, created_at DESC, ord)",
        "CREATE INDEX workflows_by_parent ON workflows (parent_workflow_id, created_at, ord)",
        "CREATE INDEX workflows_by_expiry ON workflows (expires_at) WHERE expires_at IS NOT NULL",
        f"""CREATE TABLE invocations ({_columns(INV_TYPES)}, missing integer,
            ord bigint GENERATED ALWAYS AS IDENTITY, PRIMARY KEY (workflow_id, invocation_id))""",
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
        *FUNCTIONS,
    ),
    2: (
        "DROP INDEX workflows_by_created, workflows_by_status, workflows_by_type",
        *(
            f"CREATE INDEX {name} ON workflows {columns}"
            for name, columns in LISTING_INDEXES.items()
        ),
    ),
    3: (
        "ALTER TABLE invocations ADD COLUMN history_epoch integer NOT NULL DEFAULT 0",
        # load_since(): load() from entry p_from on, with the outcomes at p_open (all of
        # them with p_all), the history epoch and how many outcomes there are.
        f"""CREATE FUNCTION wfcore_load_since(p_wid text, p_iid text, p_claim boolean,
            p_now double precision, p_from integer, p_open integer[], p_all boolean)
            RETURNS TABLE ({_LOAD_COLUMNS}, r_epoch integer, r_outcome_count bigint)
            LANGUAGE plpgsql AS $$
        BEGIN
{_CLAIM}        RETURN QUERY {_LOAD_SINCE_SELECT};
        END $$""",
    ),
}
assert sorted(MIGRATIONS) == list(range(1, SCHEMA_VERSION + 1))

SIGNAL_TABLES = ("signals", "signal_waiters", "signal_ids")
KEY = "workflow_id = %s AND invocation_id = %s"
SELECT_WF = f"SELECT {', '.join(WF_FIELDS)} FROM workflows"
SELECT_INV = f"SELECT {', '.join(INV_FIELDS)} FROM invocations"
INSERT_WF, INSERT_INV = (
    f"INSERT INTO {table} ({', '.join(fields)}) VALUES ({', '.join(['%s'] * len(fields))})"
    " ON CONFLICT DO NOTHING RETURNING 1"
    for table, fields in (("workflows", WF_FIELDS), ("invocations", INV_FIELDS))
)
# A workflow and its root invocation in one statement: the invocation only if the workflow
# row was inserted; true when it was.
CREATE = (
    f"WITH w AS ({INSERT_WF}), i AS (INSERT INTO invocations ({', '.join(INV_FIELDS)})"
    f" SELECT {', '.join(f'%s::{kind}' for kind in INV_TYPES.values())}"
    " WHERE EXISTS (SELECT 1 FROM w))"
    " SELECT EXISTS (SELECT 1 FROM w)"
)
# Every write to a workflow's rows first takes this lock on its workflow row (several
# workflows: in workflow_id order), so writers of one workflow queue up and never deadlock.
LOCK_WF = "SELECT 1 FROM workflows WHERE workflow_id = %s FOR NO KEY UPDATE"
N_INV = len(INV_FIELDS)
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


DIALECT = Dialect(
    placeholder="%s",
    lock=" FOR NO KEY UPDATE",  # see LOCK_WF
    order="ord",
    no_wait=[],
    insert_wf=INSERT_WF,
    insert_inv=INSERT_INV,
    select_wf=SELECT_WF,
    select_inv=SELECT_INV,
    listed_id=LISTED_ID,
    no_limit=None,  # LIMIT NULL: no limit
    greatest="greatest",
    workflow_from_row=workflow_from_row,
    invocation_from_row=invocation_from_row,
    invocation_to_row=invocation_to_row,
    waiting=list,
    awaits=lambda waiting, seq: seq in waiting,
    count_missing=COUNT_MISSING,
)
