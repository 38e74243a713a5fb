"""The ``wfcore`` command line: inspect, export, replay and run workflows; the demo."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

from wfcore import _cli_histories as histories
from wfcore import _cli_listing as listing_cli
from wfcore import _cli_purge as purge
from wfcore import _cli_render as render
from wfcore import _cli_repair as repair
from wfcore import _cli_schedules as schedules_cli
from wfcore._inspect import inspecting_engine, workflow_values
from wfcore._models import WorkflowStatus
from wfcore.engine import Engine
from wfcore.errors import ConfigurationError, WfError
from wfcore.store import StateStore, open_store

__all__ = ["main"]

DEFAULT_STORE = "sqlite:///wfcore.sqlite3"
# Commands that only read the store: they open an SQLite file read-only.
READ_ONLY = frozenset({"list", "show", "history", "tree", "export", "data"})
# Exit status of a command whose output pipe was closed early (128 + SIGPIPE), as for `yes`.
BROKEN_PIPE = 141


def _global_options(parser: argparse.ArgumentParser, default: Callable[[Any], Any]) -> None:
    # On the main parser and on every command: `wfcore --json list` and `wfcore list --json`.
    parser.add_argument(
        "--store",
        default=default(None),
        help=f"state store URL (default: $WFCORE_STORE_URL or {DEFAULT_STORE})",
    )
    parser.add_argument(
        "--json", action="store_true", default=default(False), help="machine-readable output"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wfcore", description="Durable, deterministic-replay workflows for Dramatiq."
    )
    _global_options(parser, lambda value: value)
    # After the command, an option left out must not reset one given before it: SUPPRESS.
    shared = argparse.ArgumentParser(add_help=False)
    _global_options(shared, lambda _: argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=text, parents=[shared])

    command("demo", "run the order-processing example on the embedded default")
    listing = command("list", "list workflows, newest first")
    listing.add_argument("--status", choices=[s.value for s in WorkflowStatus])
    listing.add_argument("--type", dest="workflow_type")
    listing.add_argument("--limit", type=int, default=50, help="page size (default: 50)")
    listing.add_argument("--cursor", help="the next cursor printed by the previous page")
    listing.add_argument("--since", help="created at or after: ISO 8601 (UTC) or epoch seconds")
    listing.add_argument("--until", help="created before: ISO 8601 (UTC) or epoch seconds")
    listing.add_argument("--search", help="part of a workflow id or idempotency key")
    listing.add_argument("--data", help="text in one of the workflow's data values (as JSON)")
    listing.add_argument("--app", help="MODULE:ATTRIBUTE of the App whose types decode --data")
    listing.add_argument("--forked", action="store_true", help="only workflows made by a fork")
    for name, text in (
        ("show", "one workflow: identity, status, arguments, result or error"),
        ("history", "a workflow's lifecycle events and recorded operations"),
        ("tree", "a workflow and its child workflows, with statuses"),
    ):
        inspect = command(name, text)
        inspect.add_argument("workflow_id")
        if name != "tree":
            inspect.add_argument(
                "--app",
                help="MODULE:ATTRIBUTE of the App (or runner) whose registered types decode "
                "the values; its store is used unless --store or $WFCORE_STORE_URL is set",
            )
    cancel = command("cancel", "cancel a workflow and its descendants")
    cancel.add_argument("workflow_id")
    cancel.add_argument(
        "--app",
        help="MODULE:ATTRIBUTE of the App, to wake suspended invocations at once (else they "
        "see the cancellation when they next wake)",
    )
    signal = command("signal", "send a signal to a workflow (wf.wait_signal / poll_signal)")
    signal.add_argument("workflow_id")
    signal.add_argument("name", help="the signal's name")
    signal.add_argument("payload", nargs="?", default="null", help="JSON (default: null)")
    signal.add_argument("--signal-id", help="an id that makes retries of this send safe")
    signal.add_argument(
        "--app",
        help="MODULE:ATTRIBUTE of the App, to wake the waiting workflow at once (else the "
        "workers' recovery sweep wakes it)",
    )
    data = command("data", "a workflow's data (wf.set_data), or one key of it")
    data.add_argument("workflow_id")
    data.add_argument("key", nargs="?")
    histories.add_commands(command)
    command(
        "upgrade",
        "bring a store written by an older wfcore up to date: SQLite schema, Redis status "
        "indexes (safe to run while workers run)",
    )
    run = command("run", "start MODULE:TASK with JSON arguments, print result")
    run.add_argument("target", help="MODULE:TASK")
    run.add_argument("args", nargs="*", help="arguments, each parsed as JSON (else a string)")
    run.add_argument("--timeout", type=float, default=None)
    repair.add_commands(command)
    schedules_cli.add_command(command)
    purge.add_command(command)
    web = command("web", "serve the web view: workflows, histories, cancel, signal (wfcore[web])")
    web.add_argument("--app", help="MODULE:ATTRIBUTE of the App: decodes its models, wakes at once")
    web.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    web.add_argument("--port", type=int, default=8233, help="port (default: 8233)")
    web.add_argument(
        "--token",
        default=os.environ.get("WFCORE_WEB_TOKEN"),
        help="required on every request; needed off loopback (default: $WFCORE_WEB_TOKEN)",
    )
    worker = commands.add_parser(
        "worker", help="run an embedded App's worker in the foreground until SIGINT/SIGTERM"
    )
    worker.add_argument("--app", required=True, help="MODULE:ATTRIBUTE of the App")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 error or divergence, 2 usage, 141 when
    the reader of the output went away, as in ``wfcore history ID | head``)."""
    try:
        args = _parser().parse_args(argv)
        try:
            code = _dispatch(args)
        except (WfError, TimeoutError) as exc:
            print(f"wfcore: error: {exc}", file=sys.stderr)
            code = 1
        sys.stdout.flush()  # here, not at exit, so that a closed pipe is seen below
        return code
    except BrokenPipeError:
        # Whatever is still buffered can never be written: point stdout at /dev/null so the
        # interpreter's final flush does not print a second traceback.
        with suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE


def _dispatch(args: argparse.Namespace) -> int:
    command: str = args.command
    if command == "demo":
        return _demo(args.store, as_json=args.json)
    if command == "replay":
        return histories.replay(_app_engine(args.app), args.files, as_json=args.json)
    if command == "run":
        return _run(args.target, args.args, args.timeout, as_json=args.json)
    if command == "worker":
        return _worker(args.app)
    if command == "web":
        return _web(args)
    if command == "cancel" and args.app:
        return _cancel(_app_engine(args.app), args.workflow_id, as_json=args.json)
    if command == "signal" and args.app:
        return _signal(_app_engine(args.app), args, as_json=args.json)
    app = _app_engine(args.app) if getattr(args, "app", None) else None
    url = args.store or os.environ.get("WFCORE_STORE_URL")
    store = app.store if app is not None and not url else _open(url, command in READ_ONLY)
    try:
        if command in repair.COMMANDS:
            assert app is not None  # --app is required by both
            return repair.run(args, app, store)
        if command == "purge":
            return purge.run(args, store)
        if command == "schedules":
            own = app if app is not None and store is app.store else None
            return schedules_cli.run(args, own or inspecting_engine(store, app))
        if command == "list":
            return listing_cli.run(args, store, app)
        if command == "upgrade":
            return listing_cli.upgrade(store, as_json=args.json)
        if command == "export":
            return histories.export(args, store)
        engine = inspecting_engine(store, app)
        record = engine.workflow(args.workflow_id)
        if command == "show":
            render.show(record, workflow_values(engine, record), as_json=args.json)
        elif command == "history":
            render.history(engine.history(record.workflow_id), as_json=args.json)
        elif command == "tree":
            render.tree(store, record, as_json=args.json)
        elif command == "cancel":
            return _cancel(engine, record.workflow_id, as_json=args.json)
        elif command == "signal":
            return _signal(engine, args, as_json=args.json)
        elif command == "data":
            render.data(record.workflow_id, engine.data(record.workflow_id), args.key, args.json)
        return 0
    finally:
        if app is None or store is not app.store:
            store.close()


def _open(url: str | None, read_only: bool) -> StateStore:
    store = open_store(url or DEFAULT_STORE, read_only=read_only)
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


def _signal(engine: Engine, args: argparse.Namespace, *, as_json: bool) -> int:
    try:
        payload = json.loads(args.payload)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"the payload of signal {args.name!r} is not JSON ({exc}): {args.payload!r}; quote "
            """it for the shell, e.g. '{"ok": true}' or '"text"'"""
        ) from None
    sent = engine.signal(args.workflow_id, args.name, payload, signal_id=args.signal_id)
    text = f"signal {args.name!r} sent to {args.workflow_id}"
    if sent.duplicate:
        text = f"signal {args.signal_id!r} was already accepted by {args.workflow_id}"
    data = {"workflow_id": args.workflow_id, "name": args.name, "duplicate": sent.duplicate}
    render.message(text, {**data, "delivered": sent.waiter is not None}, as_json=as_json)
    return 0


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


def _web(args: argparse.Namespace) -> int:
    # Imported here only: the web view needs the wfcore[web] extra.
    from wfcore.web import serve

    app = _app_engine(args.app) if args.app else None
    url = args.store or os.environ.get("WFCORE_STORE_URL")
    if url is None and app is None:
        url = DEFAULT_STORE
    return serve(url, app=app, host=args.host, port=args.port, token=args.token)


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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
