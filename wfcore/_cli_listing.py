"""``wfcore list``: a page of workflows with the web view's filters, and its next cursor."""

from __future__ import annotations

import argparse
import sys

from wfcore import _cli_render as render
from wfcore._inspect import inspecting_engine
from wfcore._listing import ListQuery, find, parse_time
from wfcore._models import WorkflowStatus
from wfcore.engine import Engine
from wfcore.errors import ConfigurationError
from wfcore.store import StateStore
from wfcore.store.listing import position

__all__ = ["run", "upgrade"]

_FORKED_SCAN = 10_000


def run(args: argparse.Namespace, store: StateStore, app: Engine | None) -> int:
    """List one page; print the cursor of the next one (stdout, or stderr with ``--json``
    so the JSON stays a list of workflows)."""
    if args.limit < 1:
        raise ConfigurationError(f"--limit must be at least 1, got {args.limit}")
    query = ListQuery(
        status=None if args.status is None else WorkflowStatus(args.status),
        workflow_type=args.workflow_type,
        search=(args.search or "").strip() or None,
        data=args.data or None,
        since=parse_time(args.since, "--since"),
        until=parse_time(args.until, "--until"),
        limit=args.limit,
        cursor=args.cursor or None,
    )
    position(query.cursor, **query.store_filters())  # a bad cursor: a typed error, first
    if args.forked:  # lineage is not indexed: filter a longer listing
        found = store.list_workflows(**query.store_filters(), limit=max(args.limit, _FORKED_SCAN))
        render.workflows(
            [w for w in found if w.forked_from is not None][: args.limit], as_json=args.json
        )
        return 0
    page = find(inspecting_engine(store, app), query)
    render.workflows(page.workflows, as_json=args.json)
    out = sys.stderr if args.json else sys.stdout
    if not page.complete:
        print(
            f"(the search stopped after looking at {page.scanned} workflows; the next cursor "
            "goes on from there)",
            file=out,
        )
    if page.next_cursor is not None:
        print(f"next cursor: {page.next_cursor}", file=out)
    return 0


def upgrade(store: StateStore, *, as_json: bool) -> int:
    """``wfcore upgrade``: an SQLite file was upgraded by opening it read-write; a Redis
    database gets its status indexes built (``RedisStore.index_statuses``)."""
    build = getattr(store, "index_statuses", None)
    indexed = build() if build is not None else 0
    text = "the store is up to date with this wfcore's schema and indexes"
    if build is not None:
        text += f" ({indexed} workflow(s) in the status indexes)"
    render.message(text, {"upgraded": True, "indexed": indexed}, as_json=as_json)
    return 0
