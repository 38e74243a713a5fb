"""Durable runs on the embedded App: what is recorded, replay verification, inline steps as
checkpoints, typed errors raised in the client, registration and what workers may run."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

from tests.flow.test_seed_examples import lines_of
from tests.integration.apps.flows import SeedFlows
from wfcore import RemoteError
from wfcore.errors import ConfigurationError
from wfcore.flow import (
    DecisionError,
    DurableExecutor,
    Enqueue,
    InProcessExecutor,
    Result,
    Step,
    StepLimitError,
    UnknownStepError,
    Workflow,
    decide_to,
)
from wfcore.flow.durable import POSITION_KEY
from wfcore_dramatiq import App

Ctx = dict[str, Any]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    with App(store=f"sqlite:///{tmp_path / 'wfcore.sqlite3'}", worker_threads=2) as embedded:
        yield embedded


def test_a_durable_run_is_one_workflow_with_a_recorded_child_per_action(app: App) -> None:
    # Given the seed's fan-out/merge workflow on the App
    seeds = SeedFlows(app)
    orders = {"orders": ["N-1", "U-2", "N-3-flaky"]}

    # When it is started and waited for
    run = seeds.fan_out.start("split", orders)
    context, trace = run.result(timeout=30)

    # Then the run is one workflow of type flow.fan_out whose history starts a child task per
    # executed action, in trace order, and records the queue position after each step
    assert run.handle.status().value == "COMPLETED"
    history = run.handle.history()
    root = [e for e in history if e.task_name == "flow.fan_out"]
    children = [e.name for e in root if e.kind == "start_task"]
    assert children == [f"flow.fan_out.{e.step}" for e in trace]
    assert len(children) == 6  # split, 3 orders, the retry, merge
    assert run.handle.get_data(POSITION_KEY) == {"executed": 6, "last": "merge", "queued": []}
    assert context["merged"] == ["N-1:done", "N-3-flaky:done", "U-2:done"]
    # and decisions are deterministic workflow code: the recorded run replays identically
    assert app.verify_replay(run.workflow_id).ok


def test_a_logged_durable_run_replays_identically(app: App) -> None:
    # Log lines take their times from wf.utc_now(): recorded, so replays rebuild them
    seeds = SeedFlows(app)
    run = seeds.retry.start("attempt", {"attempt": 1})
    sink = StringIO()
    context, _ = run.result(timeout=30, logger_sink=sink)
    assert context == {"final": {"status": "ok", "attempt": 2}}
    assert len(lines_of(sink.getvalue())) == 7
    assert app.verify_replay(run.workflow_id).ok


def test_a_step_with_an_in_process_executor_is_a_checkpoint_in_the_driver(app: App) -> None:
    workflow = Workflow(app=app, name="mixed").add(
        Step("remote", lambda c, p: p + 1, decision=decide_to("local")),
        Step("local", lambda c, p: c.setdefault("local", p * 2), executor=InProcessExecutor()),
    )
    run = workflow.start("remote", 1)
    context, _ = run.result(timeout=30)
    assert context == {"local": 4}
    root = [e for e in run.handle.history() if e.task_name == "flow.mixed" and e.seq is not None]
    steps = {"start_task", "deterministic"}
    assert [(e.kind, e.name) for e in root if e.kind in steps] == [
        ("start_task", "flow.mixed.remote"),
        ("deterministic", "flow.local"),
    ]
    assert app.verify_replay(run.workflow_id).ok


def test_run_with_app_updates_the_given_context_in_place(app: App) -> None:
    workflow = Workflow(name="ctx").add(Step("a", lambda c, p: c.update(seen=p)))
    ctx: Ctx = {"kept": 1}
    context, _ = workflow.run("a", "x", ctx=ctx, app=app)
    assert context is ctx
    assert ctx == {"kept": 1, "seen": "x"}


def test_a_durable_step_executor_in_an_in_process_run_runs_the_action_on_the_app(
    app: App,
) -> None:
    remote = DurableExecutor(app)
    workflow = Workflow(name="one_remote").add(
        Step("here", lambda c, p: p, decision=decide_to("there")),
        Step("there", lambda c, p: c.setdefault("there", p.upper()), executor=remote),
    )
    context, trace = workflow.run("here", "x")
    assert context == {"there": "X"}
    assert trace[-1].result.value == "X"


# -- errors come back typed, at once ----------------------------------------------------------


def test_an_unknown_start_step_is_refused_before_a_workflow_is_stored(app: App) -> None:
    workflow = SeedFlows(app).retry
    with pytest.raises(UnknownStepError, match="'nope'"):
        workflow.run("nope", {})
    assert app.store.list_workflows() == []


def test_step_limit_and_decision_errors_fail_the_run_without_retries(app: App) -> None:
    loop = Workflow(app=app, name="loop", max_steps=3).add(
        Step("loop", lambda c, p: p, decision=decide_to("loop"))
    )
    with pytest.raises(StepLimitError, match=r"max_steps=3 .*\(workflow '"):
        loop.run("loop", 0, timeout=10)

    def bad(ctx: Ctx, result: Result, enqueue: Enqueue) -> None:
        raise KeyError("route")

    broken = Workflow(app=app, name="broken").add(Step("a", lambda c, p: p, decision=bad))
    with pytest.raises(DecisionError, match="KeyError"):
        broken.run("a", 0, timeout=10)
    typo = Workflow(app=app, name="typo").add(Step("a", lambda c, p: p, decision=decide_to("b")))
    with pytest.raises(UnknownStepError, match="'b'"):
        typo.run("a", 0, timeout=10)


def test_unregistered_exception_types_reach_decisions_as_remote_errors(app: App) -> None:
    class PaymentDeclined(Exception):
        pass

    def pay(ctx: Ctx, payload: Any) -> None:
        raise PaymentDeclined("card 42")

    def note(ctx: Ctx, result: Result, enqueue: Enqueue) -> None:
        ctx["error"] = [type(result.error).__name__, getattr(result.error, "message", "")]

    workflow = Workflow(app=app, name="pay").add(Step("pay", pay, decision=note))
    context, trace = workflow.run("pay", None, timeout=30)
    assert context["error"] == ["RemoteError", "card 42"]
    assert isinstance(trace[0].result.error, RemoteError)
    assert trace[0].result.error.type_name.endswith("PaymentDeclined")


# -- registration and what a worker may run --------------------------------------------------


def test_two_workflows_with_one_name_on_one_app_are_refused(app: App) -> None:
    Workflow(app=app).add(Step("a", lambda c, p: p))
    with pytest.raises(ConfigurationError, match="another flow workflow named 'flow'"):
        Workflow(app=app).add(Step("a", lambda c, p: p))


def test_registering_the_same_workflow_again_is_harmless(app: App) -> None:
    workflow = Workflow(app=app, name="again").add(Step("a", lambda c, p: p))
    workflow.add(Step("b", lambda c, p: p))
    assert workflow.run("b", 2, app=app)[1][0].result.value == 2
    assert workflow.run("a", 1, executor=DurableExecutor(app))[1][0].result.value == 1


def test_a_step_on_another_app_is_refused_in_a_durable_run(app: App, tmp_path: Path) -> None:
    with App(store=f"sqlite:///{tmp_path / 'other.sqlite3'}") as other:
        workflow = Workflow(app=app, name="split_apps").add(
            Step("a", lambda c, p: p, executor=DurableExecutor(other))
        )
        with pytest.raises(ConfigurationError, match="another App"):
            workflow.run("a", 1)


def test_stored_step_names_are_looked_up_never_imported(app: App) -> None:
    # A start message naming anything but a step of the workflow the worker built fails with
    # UnknownStepError: names from storage never reach an import
    SeedFlows(app)
    run = (
        DurableExecutor(app)
        ._registry.drivers["retry"]
        .send_with_options(args=("os.system", "echo owned", {}, False))
    )
    with pytest.raises(Exception, match=r"UnknownStepError|no step named 'os\.system'"):
        run.result(timeout=10)


def test_options_and_misuse_are_checked() -> None:
    with pytest.raises(ConfigurationError, match=r"wfcore_dramatiq\.App"):
        DurableExecutor(object())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="not both"):
        Workflow(executor=InProcessExecutor(), app=object())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="durable run"):
        Workflow().add(Step("a", lambda c, p: p)).start("a")
