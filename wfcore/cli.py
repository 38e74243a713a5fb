"""The ``wfcore`` command line: inspect, export, replay and run workflows; the demo."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wfcore import _cli_render as render
from wfcore._engine import Engine
from wfcore._export import export_history
from wfcore._models import WorkflowStatus
from wfcore._replay import Replayer, ReplayResult
from wfcore.errors import ConfigurationError, WfError, WorkflowNotFoundError
from wfcore.store import StateStore, open_store

__all__ = ["main"]

DEFAULT_STORE = "sqlite:///wfcore.sqlite3"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wfcore", description="Durable, deterministic-replay workflows for Dramatiq."
    )
    parser.add_argument(
        "--store",
        default=None,
        help=f"state store URL (default: $WFCORE_STORE_URL or {DEFAULT_STORE})",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("demo", help="run the order-processing example on the embedded default")
    listing = commands.add_parser("list", help="list workflows, newest first")
    listing.add_argument("--status", choices=[s.value for s in WorkflowStatus])
    listing.add_argument("--type", dest="workflow_type")
    listing.add_argument("--limit", type=int, default=50)
    for name, text in (
        ("show", "one workflow: identity, status, result or error"),
        ("history", "a workflow's lifecycle events and recorded operations"),
        ("tree", "a workflow and its child workflows, with statuses"),
    ):
        commands.add_parser(name, help=text).add_argument("workflow_id")
    cancel = commands.add_parser("cancel", help="cancel a workflow and its descendants")
    cancel.add_argument("workflow_id")
    cancel.add_argument(
        "--app",
        help="MODULE:ATTRIBUTE of the App, to wake suspended invocations at once (else they "
        "see the cancellation when they next wake)",
    )
    export = commands.add_parser("export", help="write a workflow tree's history file")
    export.add_argument("workflow_id")
    export.add_argument("-o", "--output", help="file to write (default: <workflow_id>.wfh)")
    replay = commands.add_parser(
        "replay", help="replay history files against the current code; non-zero on divergence"
    )
    replay.add_argument("--app", required=True, help="MODULE:ATTRIBUTE of the App (or runner)")
    replay.add_argument("files", nargs="+", type=Path)
    run = commands.add_parser("run", help="start MODULE:TASK with JSON arguments, print result")
    run.add_argument("target", help="MODULE:TASK")
    run.add_argument("args", nargs="*", help="arguments, each parsed as JSON (else a string)")
    run.add_argument("--timeout", type=float, default=None)
    worker = commands.add_parser(
        "worker", help="run an embedded App's worker in the foreground until SIGINT/SIGTERM"
    )
    worker.add_argument("--app", required=True, help="MODULE:ATTRIBUTE of the App")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 error or divergence, 2 usage)."""
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except (WfError, TimeoutError) as exc:
        print(f"wfcore: error: {exc}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace) -> int:
    command: str = args.command
    if command == "demo":
        return _demo(args.store, as_json=args.json)
    if command == "replay":
        return _replay(args.app, args.files, as_json=args.json)
    if command == "run":
        return _run(args.target, args.args, args.timeout, as_json=args.json)
    if command == "worker":
        return _worker(args.app)
    if command == "cancel" and args.app:
        return _cancel(_app_engine(args.app), args.workflow_id, as_json=args.json)
    store = _open(args.store)
    try:
        if command == "list":
            status = None if args.status is None else WorkflowStatus(args.status)
            found = store.list_workflows(
                status=status, workflow_type=args.workflow_type, limit=args.limit
            )
            render.workflows(found, as_json=args.json)
            return 0
        engine = Engine(store=store, dispatcher=_NoQueue(), tasks=_no_tasks)
        record = engine.workflow(args.workflow_id)
        if command == "show":
            render.show(record, engine.outcome(record.workflow_id), as_json=args.json)
        elif command == "history":
            render.history(engine.history(record.workflow_id), as_json=args.json)
        elif command == "tree":
            render.tree(store, record, as_json=args.json)
        elif command == "cancel":
            return _cancel(engine, record.workflow_id, as_json=args.json)
        else:
            path = Path(args.output or f"{record.workflow_id}.wfh")
            path.write_bytes(export_history(store, record.workflow_id))
            render.message(f"wrote {path}", {"file": str(path)}, as_json=args.json)
        return 0
    finally:
        store.close()


def _open(url: str | None) -> StateStore:
    store = open_store(url or os.environ.get("WFCORE_STORE_URL") or DEFAULT_STORE)
    store.ping()
    return store


def _load_attribute(target: str, what: str) -> Any:
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ConfigurationError(f"{what} must be MODULE:ATTRIBUTE, got {target!r}")
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"cannot import {module_name!r} for {what}: {exc}") from exc
    finally:
        sys.path.pop(0)
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ConfigurationError(f"module {module_name!r} has no {attribute!r}") from None


def _app_engine(target: str) -> Engine:
    engine = getattr(_load_attribute(target, "--app"), "engine", None)
    if not isinstance(engine, Engine):
        raise ConfigurationError(f"{target!r} is not a wfcore App (it has no engine)")
    return engine


def _cancel(engine: Engine, workflow_id: str, *, as_json: bool) -> int:
    status = engine.workflow(workflow_id).status
    cancelled = engine.cancel(workflow_id)
    text = (
        f"cancellation of {workflow_id} requested"
        if cancelled
        else f"{workflow_id} already finished ({status.value}); nothing to cancel"
    )
    render.message(text, {"workflow_id": workflow_id, "cancelled": cancelled}, as_json=as_json)
    return 0


def _replay(target: str, files: list[Path], *, as_json: bool) -> int:
    engine = _app_engine(target)
    replayer = Replayer(engine.task, codec=engine.codec)
    results: list[tuple[Path, ReplayResult]] = []
    for path in files:
        if not path.is_file():
            raise ConfigurationError(f"history file {str(path)!r} does not exist")
        results.append((path, replayer.replay_file(path)))
    render.replays(results, as_json=as_json)
    return 0 if all(result.ok for _, result in results) else 1


def _run(target: str, raw_args: list[str], timeout: float | None, *, as_json: bool) -> int:
    task = _load_attribute(target, "run target")
    send = getattr(task, "send_with_options", None)
    if send is None:
        raise ConfigurationError(f"{target!r} is not a task declared with @app.task")
    handle = send(args=tuple(_parse_arg(a) for a in raw_args))
    result = handle.result(timeout=timeout)
    render.message(
        f"workflow {handle.workflow_id} completed: {result!r}",
        {"workflow_id": handle.workflow_id, "result": result},
        as_json=as_json,
    )
    task.app.close()
    return 0


def _worker(target: str) -> int:
    # The plugin is imported here only: `import wfcore` must never import dramatiq.
    from wfcore_dramatiq._foreground import serve

    return serve(_load_attribute(target, "--app"), target)


def _parse_arg(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _demo(store: str | None, *, as_json: bool) -> int:
    # The plugin is imported here only: `import wfcore` must never import dramatiq.
    from wfcore_dramatiq import App
    from wfcore_dramatiq.demo import DEMO_ORDER, build_demo

    with App(store=store) as app:
        tasks = build_demo(app)
        handle = tasks["robust_processing_workflow"].send_with_options(args=(DEMO_ORDER,))
        result = handle.result(timeout=60)
        history = handle.history()
        replay = app.verify_replay(handle.workflow_id)
    if as_json:
        print(
            json.dumps(
                {"workflow_id": handle.workflow_id, "result": result, "replay_ok": replay.ok},
                default=str,
            )
        )
    else:
        render.result(handle.workflow_id, result)
        render.history(history, as_json=False)
        render.replays([(Path(handle.workflow_id), replay)], as_json=False)
    return 0 if replay.ok else 1


class _NoQueue:
    """Without an App the CLI has no queue: wake-ups are left to the workers."""

    def enqueue(self, ref: Any) -> None:
        """Nothing to send to: the invocation sees the change when it next wakes."""

    def wake(self, ref: Any, delay: float) -> None:
        raise ConfigurationError("this command does not run workflows")


def _no_tasks(name: str) -> Any:
    raise WorkflowNotFoundError(f"task {name!r} is not available to this command")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
