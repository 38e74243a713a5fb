"""The CLI's repair commands: ``wfcore resume`` and ``wfcore fork``, one workflow or in bulk
(``--all``, with a progress bar on stderr and ``--dry-run``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from typing import Any

from wfcore import _cli_render as render
from wfcore._cli_progress import tracked
from wfcore._models import WorkflowRecord, WorkflowStatus
from wfcore.engine import Engine, Repaired
from wfcore.errors import ConfigurationError
from wfcore.store import StateStore

__all__ = ["add_commands", "run"]

COMMANDS = frozenset({"resume", "fork"})
_APP_HELP = (
    "MODULE:ATTRIBUTE of the App (or runner): its current code is checked against the history "
    "and its queue runs the repaired workflows; its store is used unless --store is set"
)


def add_commands(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """Declare ``resume`` and ``fork`` through the CLI's ``command(name, help)``."""
    resume = command("resume", "continue FAILED or CANCELLED workflows where they stopped")
    fork = command("fork", "start new workflows from a recorded prefix of others")
    for parser in (resume, fork):
        parser.add_argument("workflow_id", nargs="?", help="the workflow (or --all)")
        parser.add_argument("--app", required=True, help=_APP_HELP)
        parser.add_argument("--all", action="store_true", help="every workflow selected below")
        parser.add_argument(
            "--status",
            type=str.upper,
            default="FAILED",
            choices=[s.value for s in WorkflowStatus],
            help="with --all: the status to select (default FAILED)",
        )
        parser.add_argument("--type", dest="workflow_type", help="with --all: workflow type")
        parser.add_argument("--since", help='with --all: updated within, e.g. "1h", "30m"')
        parser.add_argument("--limit", type=int, default=10_000, help="with --all: at most")
        parser.add_argument(
            "--dry-run", action="store_true", help="with --all: list what would be done"
        )
    point = fork.add_mutually_exclusive_group(required=True)
    point.add_argument("--from-seq", type=int, help="operations from this seq run again")
    point.add_argument("--from-failure", action="store_true", help="from the first failure")
    point.add_argument("--from-step", help="from the last step or child task of this name")
    fork.add_argument("--fork-id", help="names the request: repeating it creates nothing new")


def run(args: argparse.Namespace, app: Engine, store: StateStore) -> int:
    """Run ``resume`` or ``fork`` with the App's code and queue on ``store``."""
    engine = app
    if store is not app.store:
        engine = Engine(
            store=store, dispatcher=app.dispatcher, tasks=app.task, codec=app.codec, clock=app.clock
        )
    if args.all == (args.workflow_id is not None):
        raise ConfigurationError(f"wfcore {args.command}: give either a WORKFLOW_ID or --all")
    options: dict[str, Any] = {}
    if args.command == "fork":
        options = {
            "from_seq": args.from_seq,
            "from_failure": args.from_failure,
            "from_step": args.from_step,
            "fork_id": args.fork_id,
        }
    if not args.all:
        # One workflow: a refusal is the command's error (one line on stderr, exit 1).
        if args.dry_run:
            render.workflows([engine.workflow(args.workflow_id)], as_json=args.json)
            return 0
        if args.command == "resume":
            engine.resume(args.workflow_id)
            item = Repaired(args.workflow_id, args.workflow_id, created=True)
        else:
            fork, created = engine.fork(args.workflow_id, **options)
            item = Repaired(args.workflow_id, fork.workflow_id, created=created)
        render.repairs(args.command, [item], as_json=args.json, single=True)
        return 0
    records = engine.repair_candidates(
        status=args.status, workflow_type=args.workflow_type, since=args.since, limit=args.limit
    )
    if args.dry_run:
        render.workflows(records, as_json=args.json)
        return 0
    if args.command == "resume":
        done = _with_progress(records, engine.resume_each, args.json, "resuming")
    else:
        each = lambda rs: engine.fork_each(rs, **options)  # noqa: E731
        done = _with_progress(records, each, args.json, "forking")
    render.repairs(args.command, done, as_json=args.json, single=False)
    return 0 if all(item.error is None for item in done) else 1


def _with_progress(
    records: list[WorkflowRecord],
    each: Callable[[list[WorkflowRecord]], Iterator[Repaired]],
    quiet: bool,
    verb: str,
) -> list[Repaired]:
    """Every item, with a progress bar on stderr for bulk runs shown to people."""
    label = f"{verb} {len(records)} workflow(s)"
    return list(tracked(each(records), len(records), label, quiet=quiet))
