"""Structured step logs: sinks, the helper contract, failing steps, logger vs logger_sink,
and, on a durable run, lines handed over in order with the times they happened."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from datetime import datetime
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

from tests.flow.test_seed_examples import lines_of
from wfcore.errors import ConfigurationError
from wfcore.flow import (
    BaseStepLogger,
    Enqueue,
    Result,
    Step,
    StepLogHelper,
    StructuredLogger,
    Workflow,
    decide_to,
)
from wfcore_dramatiq import App

Ctx = dict[str, Any]


def shout(ctx: Ctx, payload: Any, log: StepLogHelper) -> str:
    log.event("shouting", word=payload)
    return str(payload).upper()


def route(ctx: Ctx, result: Result, enqueue: Enqueue, log: StepLogHelper) -> None:
    log.event("routing", ok=result.ok)
    if result.payload == "hi":
        enqueue.tail("shout", "there")


def workflow(app: App | None = None) -> Workflow:
    return Workflow(app=app, name="logging").add(Step("shout", shout, decision=route))


EXPECTED = [
    "step=shout event=shouting word='hi'",
    "step=shout event=routing ok=True",
    "step=shout payload='hi' result='HI' error=None",
    "step=shout event=shouting word='there'",
    "step=shout event=routing ok=True",
    "step=shout payload='there' result='THERE' error=None",
]


class Calls(BaseStepLogger):
    """Notes every call with the time ``now()`` gives for it."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def log(self, step_name: str, payload: Any, result: Result) -> None:
        self.calls.append(("log", step_name, payload, result.value, self.now()))

    def event(self, step_name: str, name: str, /, **data: Any) -> None:
        self.calls.append(("event", step_name, name, data, self.now()))


@pytest.fixture(params=["inprocess", "embedded"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[App | None]:
    if request.param == "inprocess":
        yield None
        return
    embedded = App(store=f"sqlite:///{tmp_path / 'wfcore.sqlite3'}", worker_threads=2)
    try:
        yield embedded
    finally:
        embedded.close()


# -- sinks ------------------------------------------------------------------------------------


def test_logger_sink_stringio(app: App | None) -> None:
    sink = StringIO()
    workflow(app).run("shout", "hi", logger_sink=sink)
    assert lines_of(sink.getvalue()) == EXPECTED


def test_logger_sink_file(app: App | None, tmp_path: Path) -> None:
    path = tmp_path / "steps.log"
    with path.open("w") as sink:
        workflow(app).run("shout", "hi", logger_sink=sink)
    assert lines_of(path.read_text()) == EXPECTED


def test_logger_sink_stdout(app: App | None, capsys: pytest.CaptureFixture[str]) -> None:
    workflow(app).run("shout", "hi", logger_sink=sys.stdout)
    assert lines_of(capsys.readouterr().out) == EXPECTED


def test_no_logger_writes_nothing_and_the_helper_is_a_no_op(
    app: App | None, capsys: pytest.CaptureFixture[str]
) -> None:
    _, trace = workflow(app).run("shout", "hi")
    assert [e.result.value for e in trace] == ["HI", "THERE"]
    assert capsys.readouterr().out == ""


# -- logger vs logger_sink ------------------------------------------------------------------------


def test_a_custom_logger_gets_every_step_and_event(app: App | None) -> None:
    calls = Calls()
    workflow(app).run("shout", "hi", logger=calls)
    assert [c[:4] for c in calls.calls] == [
        ("event", "shout", "shouting", {"word": "hi"}),
        ("event", "shout", "routing", {"ok": True}),
        ("log", "shout", "hi", "HI"),
        ("event", "shout", "shouting", {"word": "there"}),
        ("event", "shout", "routing", {"ok": True}),
        ("log", "shout", "there", "THERE"),
    ]


def test_logger_and_logger_sink_together_both_get_everything(app: App | None) -> None:
    calls, sink = Calls(), StringIO()
    workflow(app).run("shout", "hi", logger=calls, logger_sink=sink)
    assert lines_of(sink.getvalue()) == EXPECTED
    assert len(calls.calls) == len(EXPECTED)


def test_a_logger_without_event_gets_step_lines_only(app: App | None) -> None:
    class StepsOnly:
        def __init__(self) -> None:
            self.steps: list[str] = []

        def log(self, step_name: str, payload: Any, result: Result) -> None:
            self.steps.append(f"{step_name}:{result.value}")

    logger = StepsOnly()
    workflow(app).run("shout", "hi", logger=logger)
    assert logger.steps == ["shout:HI", "shout:THERE"]


def test_event_details_may_be_called_name_or_step() -> None:
    def act(ctx: Ctx, payload: Any, log: StepLogHelper) -> None:
        log.event("tagged", name="n", step="s", timestamp="t")

    sink = StringIO()
    Workflow().add(Step("a", act)).run("a", None, logger_sink=sink)
    assert lines_of(sink.getvalue())[0] == "step=a event=tagged name='n' step='s' timestamp='t'"


def test_bad_loggers_and_sinks_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="logger= takes a StepLogger"):
        workflow().run("shout", "hi", logger=StringIO())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"write\(str\)"):
        workflow().run("shout", "hi", logger_sink="steps.log")
    with pytest.raises(ConfigurationError, match=r"write\(str\)"):
        StructuredLogger(object())


# -- failing and retrying steps -------------------------------------------------------------------


def test_failing_and_retried_steps_log_their_error(app: App | None) -> None:
    def flaky(ctx: Ctx, payload: int, log: StepLogHelper) -> int:
        log.event("try", n=payload)
        if payload < 2:
            raise ValueError(f"bad {payload}")
        return payload

    def retry(ctx: Ctx, result: Result, enqueue: Enqueue, log: StepLogHelper) -> None:
        if not result:
            log.event("retrying", error=str(result.error))
            enqueue.head("flaky", result.payload + 1)

    sink = StringIO()
    flow = Workflow(app=app, name="flaky").add(Step("flaky", flaky, decision=retry))
    flow.run("flaky", 1, logger_sink=sink)
    assert lines_of(sink.getvalue()) == [
        "step=flaky event=try n=1",
        "step=flaky event=retrying error='bad 1'",
        "step=flaky payload=1 result=None error=ValueError('bad 1')",
        "step=flaky event=try n=2",
        "step=flaky payload=2 result=2 error=None",
    ]


# -- durable hand-over ----------------------------------------------------------------------------


def test_durable_lines_keep_the_times_they_happened(tmp_path: Path) -> None:
    # Given a durable run whose action waits between two events
    def slow(ctx: Ctx, payload: Any, log: StepLogHelper) -> None:
        log.event("before")
        time.sleep(0.3)
        log.event("after")

    with App(store=f"sqlite:///{tmp_path / 'wfcore.sqlite3'}", worker_threads=2) as app:
        flow = Workflow(app=app, name="slow").add(Step("slow", slow, decision=decide_to("end")))
        flow.add(Step("end", lambda ctx, payload: None))
        calls = Calls()
        started = datetime.now().astimezone()

        # When it runs (its lines reach the logger after the run, in this process)
        flow.run("slow", None, logger=calls)

    # Then each line carries the time it happened, not the time it was handed over
    times = [c[-1] for c in calls.calls]
    assert all(started <= t for t in times)
    assert times == sorted(times)
    before, after = times[0], times[1]
    assert (after - before).total_seconds() >= 0.3
