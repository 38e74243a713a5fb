"""Every example of the py_workflow seed README, in-process, on the embedded App (durable)
and on a real ``dramatiq`` worker over Redis: same context, trace and log lines."""

from __future__ import annotations

import json
import re
import sys
from io import StringIO

import pytest

from tests.flow.conftest import FlowSetup
from tests.integration.apps.flows import JSONLogger
from wfcore.flow import StructuredLogger

TIMESTAMP = re.compile(r"^timestamp=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00 ")


def lines_of(text: str) -> list[str]:
    """The log lines without their timestamps (each must have one)."""
    out = []
    for line in text.splitlines():
        assert TIMESTAMP.match(line), line
        out.append(TIMESTAMP.sub("", line))
    return out


def test_quick_start(flow_env: FlowSetup) -> None:
    # Given the seed's Quick Start workflow
    workflow = flow_env.seeds.quickstart
    buffer = StringIO()

    # When it runs with a StructuredLogger
    context, trace = workflow.run(
        start="load",
        payload={"batch": "B-99"},
        logger=StructuredLogger(buffer),
    )

    # Then load fans out to two process steps, and every line is there in order
    assert context == {}
    assert [(e.step, e.payload, e.result.value) for e in trace] == [
        ("load", {"batch": "B-99"}, ["priority", "normal"]),
        ("process", "priority", "PRIORITY"),
        ("process", "normal", "NORMAL"),
    ]
    assert lines_of(buffer.getvalue()) == [
        "step=load event=start payload={'batch': 'B-99'}",
        "step=load event=fanout count=2",
        "step=load payload={'batch': 'B-99'} result=['priority', 'normal'] error=None",
        "step=process payload='priority' result='PRIORITY' error=None",
        "step=process payload='normal' result='NORMAL' error=None",
    ]


def test_logging_with_helper_events(flow_env: FlowSetup) -> None:
    buffer = StringIO()
    flow_env.seeds.helper_events.run(
        start="fetch", payload={"batch": "B-1"}, logger=StructuredLogger(buffer)
    )
    assert lines_of(buffer.getvalue()) == [
        "step=fetch event=start payload={'batch': 'B-1'}",
        "step=fetch event=enqueue size=2",
        "step=fetch payload={'batch': 'B-1'} result={'items': [1, 2]} error=None",
        "step=process event=processing item=1",
        "step=process payload=1 result=10 error=None",
        "step=process event=processing item=2",
        "step=process payload=2 result=20 error=None",
    ]


def test_retry_step(flow_env: FlowSetup) -> None:
    # Given the seed's retry recipe: attempt 1 raises, the decision retries at the head
    sink = StringIO()

    # When it runs (the seed runs it without a logger; here with a sink to see the retry)
    context, trace = flow_env.seeds.retry.run(
        start="attempt", payload={"attempt": 1}, logger_sink=sink
    )

    # Then the second attempt succeeds and finalize stores it in the context
    assert context == {"final": {"status": "ok", "attempt": 2}}
    assert [e.step for e in trace] == ["attempt", "attempt", "finalize"]
    first = trace[0].result
    assert not first
    assert isinstance(first.error, RuntimeError)
    assert str(first.error) == "transient"
    assert lines_of(sink.getvalue()) == [
        "step=attempt event=attempt number=1",
        "step=attempt event=retry next_attempt=2",
        "step=attempt payload={'attempt': 1} result=None error=RuntimeError('transient')",
        "step=attempt event=attempt number=2",
        "step=attempt payload={'attempt': 2} result={'status': 'ok', 'attempt': 2} error=None",
        "step=finalize event=final payload={'status': 'ok', 'attempt': 2}",
        "step=finalize payload={'status': 'ok', 'attempt': 2} result=None error=None",
    ]


def test_retry_step_without_a_logger(flow_env: FlowSetup) -> None:
    # The seed's own call: no logger, yet the actions take and use `log` (a no-op helper)
    context, _ = flow_env.seeds.retry.run(start="attempt", payload={"attempt": 1})
    assert context == {"final": {"status": "ok", "attempt": 2}}


def test_fan_out_then_merge(flow_env: FlowSetup) -> None:
    # Given urgent and normal orders, one of which fails on its first attempt
    orders = ["N-1", "U-2", "N-3-flaky", "U-4"]
    sink = StringIO()

    # When the fan-out/merge workflow runs
    context, trace = flow_env.seeds.fan_out.run(
        start="split", payload={"orders": orders}, logger_sink=sink
    )

    # Then urgent work runs first, the flaky order is retried at the tail, and merge runs once
    worked = [(e.payload["id"], e.payload["attempt"], e.result.ok) for e in trace[1:-1]]
    assert worked == [
        ("U-2", 1, True),
        ("U-4", 1, True),
        ("N-1", 1, True),
        ("N-3-flaky", 1, False),
        ("N-3-flaky", 2, True),
    ]
    assert trace[-1].step == "merge"
    assert trace[-1].result.value == {"count": 4}
    assert context["merged"] == ["N-1:done", "N-3-flaky:done", "U-2:done", "U-4:done"]
    assert isinstance(trace[4].result.error, ConnectionError)
    assert "step=work event=retry order='N-3-flaky' attempt=2" in lines_of(sink.getvalue())


def test_structured_logging_to_stdout(
    flow_env: FlowSetup, capsys: pytest.CaptureFixture[str]
) -> None:
    flow_env.seeds.quickstart.run(start="load", payload={"batch": "B-2"}, logger_sink=sys.stdout)
    out = lines_of(capsys.readouterr().out)
    assert out[0] == "step=load event=start payload={'batch': 'B-2'}"
    assert out[-1] == "step=process payload='normal' result='NORMAL' error=None"
    assert len(out) == 5


def test_custom_logger(flow_env: FlowSetup) -> None:
    sink = StringIO()
    flow_env.seeds.helper_events.run(
        start="fetch", payload={"batch": "B-3"}, logger=JSONLogger(sink)
    )
    records = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert records[0] == {"step": "fetch", "event": "start", "payload": {"batch": "B-3"}}
    assert records[2] == {
        "step": "fetch",
        "payload": {"batch": "B-3"},
        "ok": True,
        "result": {"items": [1, 2]},
    }
    assert [r.get("result") for r in records if "ok" in r] == [{"items": [1, 2]}, 10, 20]
