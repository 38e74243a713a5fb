"""The CLI's history files: ``wfcore export`` (one workflow tree, or many chosen by id or
by the listing's filters) and ``wfcore replay`` (files, or every ``.wfh`` of a directory)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from wfcore import _cli_render as render
from wfcore._cli_progress import tracked
from wfcore._export import export_history
from wfcore._listing import every_page, parse_time
from wfcore._models import WorkflowStatus
from wfcore._replay import Replayer, ReplayResult
from wfcore.engine import Engine
from wfcore.errors import ConfigurationError, WorkflowNotFoundError
from wfcore.store import StateStore

__all__ = ["add_commands", "export", "replay"]

SUFFIX = ".wfh"


def add_commands(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """Declare ``export`` and ``replay`` through the CLI's ``command(name, help)``."""
    out = command("export", "write the history file of one workflow tree, or of many")
    out.add_argument("workflow_ids", nargs="*", metavar="WORKFLOW_ID")
    out.add_argument(
        "-o",
        "--output",
        help=f"file to write for one workflow (default: <workflow_id>{SUFFIX}); the directory "
        "to write into for many (default: the current one)",
    )
    out.add_argument("--status", choices=[s.value for s in WorkflowStatus], help="every one so")
    out.add_argument("--type", dest="workflow_type", help="every workflow of this type")
    out.add_argument("--since", help="created at or after: ISO 8601 (UTC) or epoch seconds")
    out.add_argument("--until", help="created before: ISO 8601 (UTC) or epoch seconds")
    again = command(
        "replay", "replay history files against the current code; non-zero on divergence"
    )
    again.add_argument("--app", required=True, help="MODULE:ATTRIBUTE of the App (or runner)")
    again.add_argument(
        "files", nargs="+", type=Path, help=f"history files, or directories of {SUFFIX} files"
    )


def export(args: argparse.Namespace, store: StateStore) -> int:
    """Write the history files asked for; one line (or JSON) saying where."""
    filters = {
        "status": None if args.status is None else WorkflowStatus(args.status),
        "workflow_type": args.workflow_type,
        "created_after": parse_time(args.since, "--since"),
        "created_before": parse_time(args.until, "--until"),
    }
    chosen = any(value is not None for value in filters.values())
    ids: list[str] = list(args.workflow_ids)
    if not ids and not chosen:
        raise ConfigurationError(
            "export needs WORKFLOW_ID(s) or a selection (--status, --type, --since, --until)"
        )
    if len(ids) == 1 and not chosen:
        path = Path(args.output or f"{ids[0]}{SUFFIX}")
        path.write_bytes(export_history(store, _existing(store, ids[0])))
        render.message(f"wrote {path}", {"file": str(path)}, as_json=args.json)
        return 0
    ids += [r.workflow_id for r in every_page(store, **filters) if r.workflow_id not in ids]
    folder = Path(args.output or ".")
    if not folder.is_dir():
        raise ConfigurationError(
            f"-o {str(folder)!r} is not a directory; exporting many workflows writes one "
            f"{SUFFIX} file per workflow into a directory that exists"
        )
    written = []
    label = f"exporting {len(ids)} workflow(s)"
    for workflow_id in tracked(ids, len(ids), label, quiet=args.json):
        path = folder / f"{workflow_id}{SUFFIX}"
        path.write_bytes(export_history(store, _existing(store, workflow_id)))
        written.append(str(path))
    render.message(
        f"wrote {len(written)} history file(s) into {folder}",
        {"files": written, "directory": str(folder)},
        as_json=args.json,
    )
    return 0


def _existing(store: StateStore, workflow_id: str) -> str:
    if store.get_workflow(workflow_id) is None:
        raise WorkflowNotFoundError(f"no workflow {workflow_id!r} in the store; nothing written")
    return workflow_id


def replay(engine: Engine, paths: list[Path], *, as_json: bool) -> int:
    """Replay every file (a directory stands for its ``.wfh`` files, in name order); 0 when
    all replay the same, 1 on any divergence."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix == SUFFIX and p.is_file())
            if not found:
                raise ConfigurationError(f"directory {str(path)!r} holds no {SUFFIX} file")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigurationError(f"history file {str(path)!r} does not exist")
    replayer = Replayer(engine.task, codec=engine.codec, resolve=engine.resolve_task)
    label = f"replaying {len(files)} history file(s)"
    results: list[tuple[Path, ReplayResult]] = [
        (path, replayer.replay_file(path))
        for path in tracked(files, len(files), label, quiet=as_json)
    ]
    render.replays(results, as_json=as_json)
    return 0 if all(result.ok for _, result in results) else 1
