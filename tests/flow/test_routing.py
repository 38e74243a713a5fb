"""The run loop in this process: executor choice, the in-process executor, retries, errors
that do not halt the queue, safety checks and the decision helpers (the seed's unit table)."""

from __future__ import annotations

from typing import Any

import pytest

from wfcore.errors import ConfigurationError, WfError
from wfcore.flow import (
    DecisionError,
    DuplicateStepError,
    Enqueue,
    InProcessExecutor,
    Result,
    Step,
    StepLimitError,
    StepLogHelper,
    UnknownStepError,
    Workflow,
    decide_if,
    decide_to,
)

Ctx = dict[str, Any]


class Recording:
    """An executor that notes which steps it ran, then runs them inline."""

    def __init__(self, label: str, calls: list[tuple[str, str]]) -> None:
        self.label = label
        self.calls = calls

    def execute(self, step: Step, ctx: Ctx, payload: Any, log: StepLogHelper) -> Result:
        self.calls.append((self.label, step.name))
        return InProcessExecutor().execute(step, ctx, payload, log)


def two_steps(executor: Recording | None = None) -> list[Step]:
    return [
        Step("a", lambda ctx, p: p, decision=decide_to("b")),
        Step("b", lambda ctx, p: p, executor=executor),
    ]


# -- executor selection --------------------------------------------------------------------


def test_the_workflow_default_executor_runs_every_step() -> None:
    calls: list[tuple[str, str]] = []
    Workflow(executor=Recording("default", calls)).add(*two_steps()).run("a", 1)
    assert calls == [("default", "a"), ("default", "b")]


def test_a_run_executor_wins_over_the_workflow_default() -> None:
    calls: list[tuple[str, str]] = []
    workflow = Workflow(executor=Recording("default", calls)).add(*two_steps())
    workflow.run("a", 1, executor=Recording("run", calls))
    assert calls == [("run", "a"), ("run", "b")]


def test_a_step_executor_wins_over_the_run_and_the_default() -> None:
    calls: list[tuple[str, str]] = []
    workflow = Workflow(executor=Recording("default", calls))
    workflow.add(*two_steps(Recording("step", calls)))
    workflow.run("a", 1, executor=Recording("run", calls))
    assert calls == [("run", "a"), ("step", "b")]


def test_an_executor_without_execute_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="execute"):
        Workflow(executor=object())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="execute"):
        Workflow().add(*two_steps()).run("a", 1, executor=42)  # type: ignore[arg-type]


# -- the in-process executor -----------------------------------------------------------------


def test_in_process_actions_share_the_context_and_get_the_helper_only_if_they_take_it() -> None:
    seen: list[Any] = []

    def with_log(ctx: Ctx, payload: Any, log: StepLogHelper) -> int:
        seen.append(type(log).__name__)
        ctx["n"] = payload + 1
        return int(ctx["n"])

    def without_log(ctx: Ctx, payload: Any) -> int:
        return int(ctx["n"]) * 10

    def star(*args: Any) -> int:
        seen.append(len(args))
        return 0

    ctx: Ctx = {"given": True}
    context, trace = (
        Workflow()
        .add(
            Step("a", with_log, decision=decide_to("b")),
            Step("b", without_log, decision=decide_to("c")),
            Step("c", star),
        )
        .run("a", 1, ctx=ctx)
    )
    assert context is ctx
    assert context == {"given": True, "n": 2}
    assert [e.result.value for e in trace] == [2, 20, 0]
    assert seen == ["StepLogHelper", 3]


def test_results_are_falsy_when_the_action_raised() -> None:
    assert Result.success(0)
    assert not Result.failure(ValueError("x"))
    assert Result.failure(ValueError("x"), payload=5).payload == 5


# -- retries and errors that do not halt the queue --------------------------------------------


def test_a_decision_retries_a_failing_step_until_it_succeeds() -> None:
    failures = {"left": 2}

    def flaky(ctx: Ctx, payload: int) -> int:
        if failures["left"]:
            failures["left"] -= 1
            raise TimeoutError(f"try {payload}")
        return payload

    def retry(ctx: Ctx, result: Result, enqueue: Enqueue) -> None:
        if not result:
            enqueue.head("flaky", result.payload + 1)

    _, trace = Workflow().add(Step("flaky", flaky, decision=retry)).run("flaky", 1)
    assert [(e.payload, e.result.ok) for e in trace] == [(1, False), (2, False), (3, True)]
    assert str(trace[0].result.error) == "try 1"


def test_a_failing_action_does_not_halt_the_queue() -> None:
    def boom(ctx: Ctx, payload: Any) -> None:
        raise KeyError(payload)

    def fan(ctx: Ctx, result: Result, enqueue: Enqueue) -> None:
        for item in ["x", "y"]:
            enqueue.tail("boom", item)
        enqueue.tail("last", None)

    context, trace = (
        Workflow()
        .add(Step("first", lambda c, p: p, decision=fan), Step("boom", boom))
        .add(Step("last", lambda c, p: c.setdefault("ran", True)))
        .run("first")
    )
    assert [(e.step, e.result.ok) for e in trace] == [
        ("first", True),
        ("boom", False),
        ("boom", False),
        ("last", True),
    ]
    assert isinstance(trace[1].result.error, KeyError)
    assert context == {"ran": True}


def test_a_decision_that_raises_stops_the_run_with_decision_error() -> None:
    def bad(ctx: Ctx, result: Result, enqueue: Enqueue) -> None:
        raise ZeroDivisionError("oops")

    with pytest.raises(DecisionError, match=r"step 'a' raised ZeroDivisionError: oops") as info:
        Workflow().add(Step("a", lambda c, p: p, decision=bad)).run("a")
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_wfcore_errors_raised_in_a_decision_are_not_wrapped() -> None:
    # e.g. NonDeterminismError in a durable run must stay what it is, not a DecisionError
    def strict(ctx: Ctx, result: Result, enqueue: Enqueue) -> None:
        raise ConfigurationError("misused")

    with pytest.raises(ConfigurationError, match="misused") as info:
        Workflow().add(Step("a", lambda c, p: p, decision=strict)).run("a")
    assert not isinstance(info.value, DecisionError)


def test_head_calls_of_one_decision_keep_their_order() -> None:
    def route(ctx: Ctx, result: Result, enqueue: Enqueue) -> None:
        if result.payload == "start":
            enqueue.tail("s", "tail")
            enqueue.head("s", "head-1")
            enqueue.head("s", "head-2")

    _, trace = Workflow().add(Step("s", lambda c, p: p, decision=route)).run("s", "start")
    assert [e.payload for e in trace] == ["start", "head-1", "head-2", "tail"]


# -- safety checks ------------------------------------------------------------------------------


def test_an_unknown_start_step_is_refused_before_anything_runs() -> None:
    ran: list[str] = []
    workflow = Workflow().add(Step("a", lambda c, p: ran.append("a")))
    with pytest.raises(UnknownStepError, match=r"no step named 'nope'.*its steps: 'a'"):
        workflow.run("nope")
    assert ran == []


def test_enqueueing_an_unknown_step_is_refused_at_the_enqueue() -> None:
    workflow = Workflow().add(Step("a", lambda c, p: p, decision=decide_to("typo")))
    with pytest.raises(UnknownStepError, match=r"decision of step 'a'.*'typo'"):
        workflow.run("a")


def test_duplicate_step_names_are_refused_and_nothing_of_the_call_is_added() -> None:
    workflow = Workflow().add(Step("a", lambda c, p: p))
    with pytest.raises(DuplicateStepError, match="'a'"):
        workflow.add(Step("b", lambda c, p: p), Step("a", lambda c, p: p))
    with pytest.raises(DuplicateStepError, match="'c'"):
        workflow.add(Step("c", lambda c, p: p), Step("c", lambda c, p: p))
    assert list(workflow.steps) == ["a"]


def test_max_steps_stops_a_routing_loop() -> None:
    loop = Step("loop", lambda c, p: p, decision=decide_to("loop"))
    with pytest.raises(StepLimitError, match=r"max_steps=5 steps and 1 more are queued"):
        Workflow(max_steps=5).add(loop).run("loop", 0)


def test_exactly_max_steps_is_allowed() -> None:
    def count(ctx: Ctx, result: Result, enqueue: Enqueue) -> None:
        if result.value < 5:
            enqueue.tail("n", result.value + 1)

    _, trace = Workflow(max_steps=5).add(Step("n", lambda c, p: p, decision=count)).run("n", 1)
    assert len(trace) == 5


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"])
def test_max_steps_must_be_a_positive_int(bad: Any) -> None:
    with pytest.raises(ConfigurationError, match="max_steps"):
        Workflow(max_steps=bad)


def test_bad_steps_are_refused_with_typed_errors() -> None:
    with pytest.raises(ConfigurationError, match="name"):
        Step("", lambda c, p: p)
    with pytest.raises(ConfigurationError, match="action must be callable"):
        Step("a", "not callable")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="decision must be callable"):
        Step("a", lambda c, p: p, decision=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="takes Step objects"):
        Workflow().add("a")  # type: ignore[arg-type]
    assert issubclass(UnknownStepError, ConfigurationError)
    assert issubclass(StepLimitError, WfError)


# -- decision helpers ---------------------------------------------------------------------------


def test_decide_to_passes_the_value_on_and_routes_failures_to_on_error() -> None:
    def parse(ctx: Ctx, payload: str) -> int:
        return int(payload)

    def record(ctx: Ctx, payload: Any) -> None:
        ctx.setdefault("got", []).append(payload)

    def rejected(ctx: Ctx, payload: Any) -> None:
        ctx.setdefault("rejected", []).append(payload)

    workflow = Workflow().add(
        Step("parse", parse, decision=decide_to("record", on_error="rejected")),
        Step("record", record),
        Step("rejected", rejected),
    )
    assert workflow.run("parse", "42")[0] == {"got": [42]}
    assert workflow.run("parse", "x")[0] == {"rejected": ["x"]}
    # without on_error a failure ends the route
    bare = Workflow().add(Step("parse", parse, decision=decide_to("record")))
    bare.add(Step("record", record))
    assert bare.run("parse", "x")[0] == {}


def test_decide_if_branches_on_the_result() -> None:
    def big(result: Result) -> bool:
        return bool(result.ok and result.value > 100)

    workflow = Workflow().add(
        Step("amount", lambda c, p: p, decision=decide_if(big, "review", "approve")),
        Step("review", lambda c, p: c.setdefault("review", p)),
        Step("approve", lambda c, p: c.setdefault("approve", p)),
    )
    assert workflow.run("amount", 500)[0] == {"review": 500}
    assert workflow.run("amount", 5)[0] == {"approve": 5}
    only_then = Workflow().add(
        Step("amount", lambda c, p: p, decision=decide_if(big, "review")),
        Step("review", lambda c, p: c.setdefault("review", p)),
    )
    assert only_then.run("amount", 5)[0] == {}


def test_decision_helpers_refuse_bad_arguments() -> None:
    with pytest.raises(ConfigurationError, match="step names"):
        decide_to("")
    with pytest.raises(ConfigurationError, match="step names"):
        decide_to("a", on_error=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="callable predicate"):
        decide_if("x", "a")  # type: ignore[arg-type]
