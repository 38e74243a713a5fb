"""The CLI's ``wfcore purge --older-than 30d [--status completed] [--dry-run]``."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime

from wfcore import _cli_render as render
from wfcore._cli_progress import tracked
from wfcore._durations import to_seconds
from wfcore._listing import every_page
from wfcore._models import WorkflowRecord, WorkflowStatus
from wfcore.errors import ConfigurationError
from wfcore.store import StateStore

__all__ = ["add_command", "run"]

FINISHED = [s.value for s in WorkflowStatus if s.finished]
BATCH = 500


def add_command(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """Declare ``purge`` through the CLI's ``command(name, help)``."""
    purge = command("purge", "delete finished workflows last updated longer ago than a cut-off")
    purge.add_argument(
        "--older-than", required=True, help='age of the last update, e.g. "30d", "12h", "90m"'
    )
    purge.add_argument(
        "--status",
        type=str.upper,
        choices=FINISHED,
        help="only workflows that ended so (default: every finished status)",
    )
    purge.add_argument("--type", dest="workflow_type", help="only workflows of this type")
    purge.add_argument("--dry-run", action="store_true", help="list what would be deleted")


def run(args: argparse.Namespace, store: StateStore) -> int:
    """Delete (or with ``--dry-run`` list) the finished workflows older than the cut-off."""
    try:
        age = to_seconds(args.older_than)
    except ConfigurationError:
        raise ConfigurationError(
            f'--older-than {args.older_than!r} is not a duration; use e.g. "30d", "12h", "90m"'
        ) from None
    before = time.time() - age
    statuses = [args.status] if args.status else FINISHED
    doomed = [
        record
        for status in statuses
        for record in every_page(
            store,
            status=WorkflowStatus(status),
            workflow_type=args.workflow_type,
            created_before=before,  # updated before the cut-off: created before it too
        )
        if record.updated_at < before
    ]
    if args.dry_run:
        render.workflows(doomed, as_json=args.json)
        return 0
    purged = _purge(store, doomed, before, quiet=args.json)
    cutoff = datetime.fromtimestamp(before, UTC).isoformat(timespec="seconds")
    render.message(
        f"purged {purged} finished workflow(s) last updated before {cutoff}",
        {"purged": purged, "before": cutoff},
        as_json=args.json,
    )
    return 0


def _purge(store: StateStore, doomed: list[WorkflowRecord], before: float, quiet: bool) -> int:
    """Delete in batches, with a progress bar on stderr for people; how many went (the store
    checks each again: one that was resumed since it was listed stays)."""
    ids = [record.workflow_id for record in doomed]
    batches = [ids[i : i + BATCH] for i in range(0, len(ids), BATCH)]
    label = f"purging {len(ids)} workflow(s)"
    return sum(
        store.purge_finished(batch, before)
        for batch in tracked(batches, len(batches), label, quiet=quiet)
    )
