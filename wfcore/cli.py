"""The ``wfcore`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from wfcore._history import HistoryEvent
from wfcore.errors import WfError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wfcore", description="Durable, deterministic-replay workflows for Dramatiq."
    )
    parser.add_argument(
        "--store",
        default=None,
        help="state store URL (default: $WFCORE_STORE_URL or sqlite:///wfcore.sqlite3)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "demo", help="run the order-processing example end to end on the embedded default"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(args.store, as_json=args.json)
    except WfError as exc:
        print(f"wfcore: error: {exc}", file=sys.stderr)
        return 1
    return 2  # pragma: no cover - argparse rejects unknown commands


def _demo(store: str | None, *, as_json: bool) -> int:
    # The plugin is imported here only: `import wfcore` must never import dramatiq.
    from wfcore_dramatiq import App
    from wfcore_dramatiq.demo import DEMO_ORDER, build_demo

    with App(store=store) as app:
        tasks = build_demo(app)
        handle = tasks["robust_processing_workflow"].send_with_options(args=(DEMO_ORDER,))
        result = handle.result(timeout=60)
        history = handle.history()
    if as_json:
        print(json.dumps({"workflow_id": handle.workflow_id, "result": result}, default=str))
        return 0
    _print_result(handle.workflow_id, result)
    _print_history(history)
    return 0


def _print_result(workflow_id: str, result: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"Workflow {workflow_id}: result", show_header=False)
    for key, value in result.items():
        table.add_row(key, str(value))
    _console().print(table)


def _print_history(history: list[HistoryEvent]) -> None:
    from datetime import UTC, datetime

    from rich.table import Table

    table = Table(title="History")
    for column in ("time (UTC)", "task", "seq", "event", "name", "value"):
        table.add_column(column)
    for event in history:
        when = datetime.fromtimestamp(event.timestamp, UTC).strftime("%H:%M:%S.%f")[:-3]
        value = "" if event.value is None else str(event.value)
        table.add_row(
            when,
            event.task_name,
            "" if event.seq is None else str(event.seq),
            event.kind if event.ok else f"{event.kind} (error)",
            event.name,
            value if len(value) <= 48 else value[:45] + "...",
        )
    _console().print(table)


def _console() -> Console:
    from rich.console import Console

    # Wide enough for ids and timestamps when stdout is a pipe (rich would assume 80).
    return Console(width=None if sys.stdout.isatty() else 160)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
