"""``wfcore.logging``: formatters that show the workflow fields of log records."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

import wfcore.logging
from wfcore import LocalRunner


@pytest.fixture
def captured() -> Iterator[tuple[logging.Handler, io.StringIO]]:
    """A handler on the ``wfcore`` and ``app`` loggers writing to a string."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    loggers = [logging.getLogger("wfcore"), logging.getLogger("app")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    try:
        yield handler, out
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)


def _flow_logging_twice(runner: LocalRunner) -> tuple[str, str]:
    """Run a workflow that logs with wf.logger and with a plain logger around a child."""
    plain = logging.getLogger("app")

    @runner.task
    def child() -> int:
        return 1

    @runner.task
    def flow() -> None:
        wf = flow.wf
        wf.logger.info("before child")
        plain.info("plain line", extra=wf.log_extra())
        wf.execute_task(child)
        wf.logger.info("after child")

    workflow_id = runner.start(flow)
    runner.run_until_idle()
    return workflow_id, flow.spec.name


def test_text_formatter_shows_workflow_fields_and_replay_state(
    captured: tuple[logging.Handler, io.StringIO],
) -> None:
    # Given wfcore's text formatter on the handler
    handler, out = captured
    handler.setFormatter(wfcore.logging.WorkflowFormatter("%(levelname)s %(message)s"))
    # When a workflow logs, suspends on a child and replays
    workflow_id, task = _flow_logging_twice(LocalRunner())
    lines = out.getvalue().splitlines()
    # Then wf.logger's lines appear once each, with the invocation's fields
    ids = f"workflow_id={workflow_id} invocation_id={workflow_id} task={task}"
    assert f"INFO before child [{ids} seq=0 attempt=1 replaying=False]" in lines
    assert f"INFO after child [{ids} seq=1 attempt=2 replaying=False]" in lines
    # and a plain logger given wf.log_extra() shows that the second time was a replay
    assert f"INFO plain line [{ids} seq=0 attempt=1 replaying=False]" in lines
    assert f"INFO plain line [{ids} seq=0 attempt=2 replaying=True]" in lines


def test_text_formatter_leaves_other_records_alone() -> None:
    formatter = wfcore.logging.WorkflowFormatter("%(message)s")
    record = logging.LogRecord("other", logging.INFO, __file__, 1, "hello", (), None)
    assert formatter.format(record) == "hello"


def test_json_formatter_writes_one_object_per_record_with_the_fields(
    captured: tuple[logging.Handler, io.StringIO],
) -> None:
    handler, out = captured
    handler.setFormatter(wfcore.logging.JsonFormatter())
    workflow_id, task = _flow_logging_twice(LocalRunner())
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    after = next(r for r in records if r["message"] == "after child")
    assert after["logger"] == f"wfcore.task.{task}"
    assert after["level"] == "INFO"
    assert {k: after[k] for k in wfcore.logging.FIELDS} == {
        "workflow_id": workflow_id,
        "invocation_id": workflow_id,
        "task": task,
        "seq": 1,
        "attempt": 2,
        "replaying": False,
    }
    assert after["time"].endswith("+00:00")


def test_json_formatter_includes_the_traceback_of_a_failed_task(
    captured: tuple[logging.Handler, io.StringIO],
) -> None:
    # Given a task that fails for good (the engine logs it at ERROR)
    handler, out = captured
    handler.setFormatter(wfcore.logging.JsonFormatter())
    runner = LocalRunner()

    @runner.task
    def broken() -> None:
        raise ValueError("card declined")

    workflow_id = runner.start(broken)
    runner.run_until_idle()
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    failed = next(r for r in records if r["level"] == "ERROR")
    # Then its record names the workflow and the error
    assert failed["logger"] == "wfcore.engine"
    assert failed["workflow_id"] == workflow_id
    assert "card declined" in failed["message"]


def test_install_changes_only_the_formatters_of_existing_handlers() -> None:
    # Given a logger set up by someone else (as the dramatiq CLI sets up the root logger)
    logger = logging.getLogger("host-app")
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logger.addHandler(handler)
    level = logger.level
    try:
        # When wfcore's JSON formatter is installed on it
        assert wfcore.logging.install(json=True, logger=logger) == 1
        logger.warning("x", extra={"workflow_id": "w1"})
        # Then its handler writes JSON, and nothing else about the logger changed
        assert json.loads(out.getvalue())["workflow_id"] == "w1"
        assert logger.handlers == [handler]
        assert logger.level == level
    finally:
        logger.removeHandler(handler)


def test_install_keeps_the_format_of_a_text_handler() -> None:
    # Given a handler with the dramatiq CLI's format
    logger = logging.getLogger("dramatiq-like")
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("[PID %(process)d] [%(name)s] %(message)s"))
    logger.addHandler(handler)
    try:
        wfcore.logging.install(logger=logger)
        logger.warning("x", extra={"workflow_id": "w1", "attempt": 2})
        assert (
            out.getvalue() == f"[PID {os.getpid()}] [dramatiq-like] x [workflow_id=w1 attempt=2]\n"
        )
    finally:
        logger.removeHandler(handler)


def test_configure_adds_one_handler_at_the_level() -> None:
    logger = logging.getLogger("configured-app")
    out = io.StringIO()
    handler = wfcore.logging.configure(logging.WARNING, stream=out, logger=logger)
    try:
        logger.info("dropped")
        logger.warning("kept", extra={"workflow_id": "w2", "seq": 4})
        assert out.getvalue().rstrip().endswith("kept [workflow_id=w2 seq=4]")
        assert "dropped" not in out.getvalue()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


def test_observability_extras_are_declared_and_imported_only_when_used() -> None:
    # Given the project's extras and its test dependency group (what scripts/test installs)
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    test_group = pyproject["dependency-groups"]["test"]
    # Then wfcore[metrics] and wfcore[otel] name their libraries, the tests install them
    assert extras["metrics"] == ["prometheus-client>=0.20"]
    assert extras["otel"] == ["opentelemetry-api>=1.25", "opentelemetry-sdk>=1.25"]
    assert set(extras["metrics"] + extras["otel"]) <= set(test_group)
    # and importing wfcore's observability modules loads neither (redis-py, which the
    # plugin imports, may load parts of OpenTelemetry itself: compared from there)
    code = (
        "import sys, wfcore, wfcore_dramatiq; before = set(sys.modules);"
        "import wfcore.logging, wfcore.observability.metrics, wfcore.observability.tracing,"
        " wfcore_dramatiq.observability;"
        "print(sorted(m for m in set(sys.modules) - before"
        " if m.split('.')[0] in ('prometheus_client', 'opentelemetry')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
