"""The PyWorkflow-style API itself: declarations, bad input (typed, clear errors), sleep
forms, retry policies, the log events and ``configure_logging``; runs go through
``start_local`` (the real engine, no broker)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import wfcore
import wfcore.steps.registry
from wfcore import ConfigurationError, NotInWorkflowError, RetryableError
from wfcore.pyworkflow import EventType, StepFunction, WorkflowFunction, log
from wfcore.pyworkflow.retrying import RetryPolicy
from wfcore.testing import LocalStorage, resume_local, start_local
from wfcore_dramatiq import App


@pytest.fixture
def app() -> Iterator[App]:
    """An App to declare on (start_local runs its tasks; no worker starts)."""
    app = App(store="memory://")
    try:
        yield app
    finally:
        app.close()


def _local(workflow: WorkflowFunction[..., Any], *args: Any) -> tuple[LocalStorage, str]:
    storage = LocalStorage()
    run_id = asyncio.run(start_local(workflow, *args, storage=storage))
    return storage, run_id


def _run(storage: LocalStorage, run_id: str) -> Any:
    return asyncio.run(storage.get_run(run_id))


# -- declaring ---------------------------------------------------------------------------------


def test_decorators_take_async_functions_only(app: App) -> None:
    def plain(x: int) -> int:
        return x

    with pytest.raises(ConfigurationError, match="`async def`"):
        app.step()(plain)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="`async def`"):
        app.workflow(plain)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_retries": -1}, "max_retries=-1"),
        ({"max_retries": "3"}, "max_retries='3'"),
        ({"retry_delay": "soon"}, "retry_delay='soon'"),
        ({"retry_delay": -5}, "retry_delay=-5"),
    ],
)
def test_bad_step_options_are_refused(app: App, options: dict[str, Any], message: str) -> None:
    async def s() -> None: ...

    with pytest.raises(ConfigurationError, match=message):
        app.step(**options)(s)


def test_a_step_declared_twice_is_refused(app: App) -> None:
    async def twice() -> None: ...

    app.step(twice)
    with pytest.raises(ConfigurationError, match="already declared"):
        app.step(twice)


def test_retry_policies() -> None:
    assert [RetryPolicy.parse(5, "exponential").delay(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert RetryPolicy.parse(3, "exponential").delay(40) == 3600
    assert RetryPolicy.parse(3, "fixed").delay(3) == 60
    assert RetryPolicy.parse(3, "5s").delay(2) == 5
    assert RetryPolicy.parse(3, timedelta(minutes=1)).delay(1) == 60


def test_retryable_error_retry_after() -> None:
    assert RetryableError("x", retry_after="30s").delay == 30
    assert RetryableError("x", retry_after=timedelta(minutes=2)).delay == 120
    assert RetryableError("x").delay is None
    with pytest.raises(ConfigurationError, match=r"retry_after='soon'"):
        RetryableError("x", retry_after="soon")
    with pytest.raises(ConfigurationError, match="not both"):
        RetryableError("x", delay=1, retry_after="2s")


def test_start_refuses_what_is_not_its_workflow(app: App) -> None:
    other = App(store="memory://")
    try:

        @other.workflow
        async def elsewhere() -> None: ...

        with pytest.raises(ConfigurationError, match="declared on another App"):
            app.start(elsewhere)
        with pytest.raises(ConfigurationError, match=r"@app\.workflow"):
            app.start(other.task(lambda: 1))  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="cannot start workflow 'elsewhere'"):
            other.start(elsewhere, 1)
    finally:
        other.close()


def test_outside_a_workflow_steps_are_plain_coroutines(app: App) -> None:
    @app.step
    async def double(x: int) -> int:
        return x * 2

    assert isinstance(double, StepFunction)
    assert asyncio.run(double(4)) == 8  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="async workflow body"):
        wfcore.sleep("1s")
    with pytest.raises(NotInWorkflowError):
        log.info("nowhere")


def test_module_level_decorators_use_the_default_app(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("WFCORE_STORE_URL", f"sqlite:///{tmp_path / 'default.sqlite3'}")
    created: list[App] = []
    monkeypatch.setattr(wfcore.steps.registry, "_DEFAULT", created)
    from wfcore.pyworkflow import start, step, workflow

    @step()
    async def greet(name: str) -> str:
        return f"hello {name}"

    @workflow()
    async def hello(name: str) -> str:
        return await greet(name)

    try:
        run_id = start(hello, "ada")
        assert created[0].handle(run_id).result(timeout=10) == "hello ada"
    finally:
        for made in created:
            made.close()


# -- sleeping ----------------------------------------------------------------------------------


def test_sleep_takes_durations_timedeltas_and_aware_datetimes(app: App) -> None:
    until = datetime(2100, 1, 1, tzinfo=UTC)

    @app.workflow
    async def sleeper() -> str:
        await wfcore.sleep("90s")
        await wfcore.sleep(timedelta(minutes=2))
        await wfcore.sleep(until)
        return "awake"

    storage, run_id = _local(sleeper)
    for _ in range(3):
        assert _run(storage, run_id).status == "suspended"
        asyncio.run(resume_local(run_id, storage=storage))
    assert _run(storage, run_id).result == "awake"
    fires = [float(e.value) for e in storage.history(run_id) if e.kind == "sleep"]
    assert fires[1] - fires[0] == pytest.approx(120, abs=1)
    assert fires[2] == until.timestamp()


def test_a_naive_datetime_fails_the_run_with_a_clear_error(app: App) -> None:
    @app.workflow
    async def naive() -> None:
        await wfcore.sleep(datetime(2025, 12, 25, 9, 0, 0))

    storage, run_id = _local(naive)
    run = _run(storage, run_id)
    assert run.status == "failed"
    assert "naive datetime" in str(run.error)


def test_max_duration_fails_a_run_that_sleeps_past_it(app: App) -> None:
    @app.workflow(max_duration="1h")
    async def too_long() -> None:
        await wfcore.sleep("1d")

    storage, run_id = _local(too_long)
    run = asyncio.run(resume_local(run_id, storage=storage))
    assert run.status == "failed"
    assert "DeadlineExceeded" in type(run.error).__name__ + str(run.error)


# -- events and logging ------------------------------------------------------------------------


def test_log_events_of_the_body_and_steps_are_in_the_history(app: App) -> None:
    @app.step
    async def audited(x: int) -> int:
        log.warning(f"checking {x}")
        return x

    @app.workflow
    async def logged(x: int) -> int:
        log.info("starting")
        return await audited(x)

    storage, run_id = _local(logged, 3)
    found = [(e.type, e.step_name, e.data["message"]) for e in storage.events(run_id)
             if e.type.startswith("log_")]  # fmt: skip
    assert found == [
        (EventType.LOG_INFO, None, "starting"),
        (EventType.LOG_WARNING, "audited", "checking 3"),
    ]


def test_configure_logging_text_shows_the_context_and_replaces_itself(app: App) -> None:
    @app.step
    async def chatty() -> None:
        logging.getLogger("shop").warning("in the step")

    @app.workflow
    async def talk() -> None:
        await chatty()

    root = logging.getLogger()
    level = root.level
    first = wfcore.configure_logging(level="WARNING")
    handler = wfcore.configure_logging(level="WARNING")
    assert first not in root.handlers
    stream = io.StringIO()
    handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        _, run_id = _local(talk)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    (line,) = [x for x in stream.getvalue().splitlines() if "in the step" in x]
    assert f"run_id={run_id} workflow_name=talk step_id=" in line
    assert line.endswith("step_name=chatty]")


def test_engine_records_about_a_run_get_its_context_too(app: App) -> None:
    @app.step(max_retries=1, retry_delay="1s")
    async def flaky() -> None:
        raise ValueError("boom")

    @app.workflow
    async def retried() -> None:
        await flaky()

    root = logging.getLogger()
    level = root.level
    handler = wfcore.configure_logging(level="WARNING", json_logs=True)
    stream = io.StringIO()
    handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        storage, run_id = _local(retried)
        asyncio.run(resume_local(run_id, storage=storage))
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    # The engine's "to be retried" warning is logged after the step's code returned: the
    # fields come from the record's own workflow fields then
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    retry = [r for r in records if "to be retried" in r["message"]]
    assert retry, records
    assert retry[0]["run_id"] == run_id
    assert retry[0]["step_name"] == "flaky"
    assert retry[0]["step_id"] not in (None, run_id)


def test_a_workflow_awaited_in_a_workflow_is_a_child_workflow(app: App) -> None:
    @app.step
    async def shout(word: str) -> str:
        return word.upper()

    @app.workflow
    async def child(word: str) -> str:
        return await shout(word)

    @app.workflow
    async def parent(words: list[str]) -> list[str]:
        return list(await asyncio.gather(*(child(w) for w in words)))

    storage, run_id = _local(parent, ["a", "b"])
    assert _run(storage, run_id).result == ["A", "B"]
    children = storage.store.child_workflows(run_id)
    assert [c.workflow_type for c in children] == ["child", "child"]


def test_a_fatal_step_in_a_gather_fails_the_run_with_its_error(app: App) -> None:
    @app.step(max_retries=5)
    async def refuse() -> None:
        raise wfcore.FatalError("no stock")

    @app.step
    async def fine() -> str:
        return "ok"

    @app.workflow
    async def both() -> object:
        return await asyncio.gather(fine(), refuse())

    storage, run_id = _local(both)
    run = _run(storage, run_id)
    assert run.status == "failed"
    assert "no stock" in str(run.error)
    types = [e.type for e in storage.events(run_id)]
    assert EventType.STEP_RETRYING not in types
    assert EventType.STEP_FAILED in types
