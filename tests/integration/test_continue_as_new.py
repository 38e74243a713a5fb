"""``wf.continue_as_new`` on the embedded App (SQLite) and on a real dramatiq worker process
over Redis: the handle follows the runs to the last result, data is kept, each run starts
with an empty history, the lineage is in the history, an idempotency key keeps naming the
workflow, and the whole workflow replays without divergence."""

from __future__ import annotations

from tests.integration.harness import RESULT_TIMEOUT, Deployment, start, token
from wfcore import Replayer


def test_a_sync_workflow_continues_as_new(deployment: Deployment) -> None:
    # Given a counter that adds one per run and continues three times
    c, tok = deployment.s.continuing, token()
    handle = start(c.counter, tok, 0, 3)
    # When it runs to its end
    result = handle.result(timeout=RESULT_TIMEOUT)
    # Then the handle followed to the fourth run, which saw the data and total carried on
    assert result == {"total": 4, "run": 4}
    assert handle.run == 4
    assert handle.get_data("total") == 4
    # And each run ran once, from its own empty history (no run replayed another's)
    for run in (1, 2, 3, 4):
        assert deployment.ledger.count(f"{tok}.run{run}") == 1
    # And the lineage is in the history: three continuations, each naming the next run
    history = handle.history()
    continued = [e for e in history if e.kind == "workflow_continued_as_new"]
    assert [e.value["run"] for e in continued] == [2, 3, 4]
    root = deployment.app.engine.workflow(handle.workflow_id).root_invocation_id
    assert root == f"{handle.workflow_id}~run4"
    roots = {e.invocation_id for e in history if e.kind == "workflow_started"}
    assert len(roots) == 4
    # And verification replays every run without divergence
    app = deployment.app
    replayed = Replayer(app.engine.task, codec=app.engine.codec).replay(
        app.store, handle.workflow_id
    )
    assert replayed.ok, replayed.divergence
    assert replayed.invocations == 4


def test_an_async_workflow_continues_as_new(deployment: Deployment) -> None:
    c = deployment.s.continuing
    handle = c.acounter.send_with_options(args=(token(), 10, 2))
    assert handle.result(timeout=RESULT_TIMEOUT) == {"total": 13, "run": 3}
    assert handle.get_data("total") == 13


def test_an_idempotency_key_keeps_naming_the_workflow(deployment: Deployment) -> None:
    # Given a workflow started with a key that continued as new (other arguments now)
    c, tok = deployment.s.continuing, token()
    first = c.counter.send_with_options(args=(tok, 0, 1), idempotency_key=tok)
    assert first.result(timeout=RESULT_TIMEOUT) == {"total": 2, "run": 2}
    # When it is started again with the key and the first arguments
    again = c.counter.send_with_options(args=(tok, 0, 1), idempotency_key=tok)
    # Then it is the same workflow, with its last run's result
    assert again.workflow_id == first.workflow_id
    assert again.result(timeout=RESULT_TIMEOUT) == {"total": 2, "run": 2}
