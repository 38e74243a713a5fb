"""The package's shape and its refusals: no Dramatiq on import, typed errors for bad input,
a clear error for a step a worker does not know."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest

from tests.integration.apps import steps_flows as f
from tests.steps.conftest import Setup
from wfcore.errors import ConfigurationError
from wfcore.steps import Scope, UnknownStepError, Workflow
from wfcore.steps.registry import tasks_of
from wfcore_dramatiq import App


def test_importing_wfcore_steps_does_not_import_dramatiq() -> None:
    code = (
        "import sys, wfcore.steps; from wfcore.steps import Workflow, Scope, ExecutionMode;"
        "Workflow(ctx={}).add_step(__import__('json').dumps);"
        "print(any(m.split('.')[0] in ('dramatiq', 'wfcore_dramatiq') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"timeout": 0}, "timeout must be a positive number"),
        ({"timeout": "5s"}, "timeout must be a positive number"),
        ({"retries": -1}, "retries must be an int"),
        ({"scope": "normal"}, "scope must be a Scope"),
        ({"scope": Scope.EXIT, "cont_on_err": True}, "cont_on_err is for NORMAL steps"),
    ],
)
def test_bad_step_options_are_refused(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        Workflow().add_step(f.tally, **options)


def test_duplicate_names_and_lambdas_are_refused() -> None:
    wf = Workflow()
    wf.add_step(f.tally)
    with pytest.raises(ConfigurationError, match="already has a step named 'tally'"):
        wf.add_exit_step(f.tally)
    wf.add_exit_step(f.tally, name="tally_again")
    with pytest.raises(ConfigurationError, match="lambda"):
        wf.add_step(lambda ctx: None, name="anonymous")


def test_two_functions_with_one_qualified_name_are_refused(tmp_path: Any) -> None:
    def make() -> Any:
        def step(ctx: dict[str, Any]) -> None:
            return None

        return step

    with App(store=f"sqlite:///{tmp_path / 's.sqlite3'}") as app:
        Workflow(app=app).add_step(make())
        with pytest.raises(UnknownStepError, match="another function is registered"):
            Workflow(app=app).add_step(make())


def test_a_step_the_worker_does_not_know_fails_the_run_clearly(tmp_path: Any) -> None:
    # The client registered 'tally'; the worker side (the App's registry) lost it.
    with App(store=f"sqlite:///{tmp_path / 's.sqlite3'}", worker_threads=2) as app:
        wf = Workflow(ctx={}, app=app)
        wf.add_step(f.tally)
        tasks_of(app)._tasks.pop("steps:tests.integration.apps.steps_flows.tally")
        with pytest.raises(UnknownStepError, match="must import the module that builds"):
            asyncio.run(wf.run())


def test_run_returns_the_callers_ctx_updated(setup: Setup) -> None:
    ctx = setup.ctx()
    wf = Workflow(ctx=ctx, app=setup.app)
    wf.add_step(f.tally)
    assert asyncio.run(wf.run()) is ctx
    assert ctx["tally"] == 3


def test_a_finished_run_replays_against_the_current_code(tmp_path: Any) -> None:
    with App(store=f"sqlite:///{tmp_path / 's.sqlite3'}", worker_threads=2) as app:
        wf = Workflow(ctx={"fail_times": 1, "ledger": str(tmp_path), "token": "t"}, app=app,
                      retry_backoff=0.01)  # fmt: skip
        wf.add_parallel_steps([f.count_a, f.flaky_branch], name="pair", retries=1)
        wf.add_exit_step(f.tally)
        asyncio.run(wf.run())
        assert wf.workflow_id is not None
        replay = app.verify_replay(wf.workflow_id)
        assert replay.ok, replay
