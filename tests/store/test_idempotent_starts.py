"""Starts by idempotency key or explicit id, on every store: the two namespaces never meet,
and a second start must repeat the first one's task and arguments."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.engines import RecordingQueue
from wfcore import Engine, TaskSpec
from wfcore._identity import child_workflow_id, run_of, workflow_id_for_key
from wfcore.errors import ConfigurationError
from wfcore.store import StateStore


def _order(item: str, qty: int = 1) -> str:
    return f"{qty} x {item}"


def _refund(item: str, qty: int = 1) -> str:
    return f"refund {qty} x {item}"


SPECS = {"order": TaskSpec("order", _order), "refund": TaskSpec("refund", _refund)}


def _engine(store: StateStore) -> Engine:
    return Engine(store=store, dispatcher=RecordingQueue(), tasks=SPECS.__getitem__)


def _start(engine: Engine, *args: Any, task: str = "order", **options: Any) -> tuple[str, bool]:
    kwargs = options.pop("kwargs", {})
    record, created = engine.start(SPECS[task], args, kwargs, **options)
    return record.workflow_id, created


def test_an_explicit_id_cannot_squat_the_id_of_an_idempotency_key(store: StateStore) -> None:
    engine = _engine(store)
    squatted = workflow_id_for_key("payment-42")
    # When a start names, explicitly, the id key "payment-42" maps to (or a child's id)
    for reserved in (squatted, child_workflow_id("root.3")):
        with pytest.raises(ConfigurationError, match="idempotency_key=") as refused:
            _start(engine, "book", workflow_id=reserved)
        assert reserved in str(refused.value)
    # Then nothing was created, and the keyed start creates its own workflow
    assert store.get_workflow(squatted) is None
    assert _start(engine, "book", idempotency_key="payment-42") == (squatted, True)
    # And explicit ids of other forms (even with the same prefixes) are fine
    assert _start(engine, "book", workflow_id="idem-payment-42")[1]
    assert _start(engine, "book", workflow_id="wf-order-7")[1]


def test_an_explicit_id_cannot_take_the_form_of_a_later_runs_root(store: StateStore) -> None:
    engine = _engine(store)
    # When a start names an id ending in '~run' + digits (how a continued run's root
    # invocation is named, so "order~run5" would read as run 5 of "order")
    for taken in ("order~run5", "order~run12"):
        with pytest.raises(ConfigurationError, match="~run") as refused:
            _start(engine, "book", workflow_id=taken)
        # Then it is refused, naming the id, and nothing was created
        assert taken in str(refused.value)
        assert store.get_workflow(taken) is None
    # And ids that only look alike are fine, and read as a first run
    for fine in ("order~run", "order~run5b", "order~runner", "order-run5"):
        assert _start(engine, "book", workflow_id=fine) == (fine, True)
        assert run_of(fine) == (fine, 1)


def test_the_same_key_and_arguments_return_the_first_workflow(store: StateStore) -> None:
    engine = _engine(store)
    first = _start(engine, "book", idempotency_key="k1", kwargs={"qty": 2})
    # Keyword arguments in another order are the same arguments
    again = _start(engine, "book", idempotency_key="k1", kwargs={"qty": 2})
    assert first == (workflow_id_for_key("k1"), True)
    assert again == (first[0], False)
    order = {"qty": 2, "item": "book"}
    assert _start(engine, workflow_id="w-1", kwargs=order) == ("w-1", True)
    assert _start(engine, workflow_id="w-1", kwargs=dict(reversed(order.items()))) == (
        "w-1",
        False,
    )


@pytest.mark.parametrize("via", ["idempotency_key", "workflow_id"])
def test_a_second_start_with_other_arguments_is_a_clear_error(store: StateStore, via: str) -> None:
    engine = _engine(store)
    name = "order-7"
    wid, _ = _start(engine, "book", **{via: name})
    # When the same key (or id) starts again with other arguments
    with pytest.raises(ConfigurationError, match="other arguments") as refused:
        _start(engine, "pen", **{via: name})
    # Then the error names the key and the workflow, and the first start is untouched
    assert name in str(refused.value)
    assert wid in str(refused.value)
    assert engine.workflow(wid).workflow_type == "order"
    root = store.get_invocation(wid, wid)
    assert root is not None
    assert engine.codec.decode(root.args) == [["book"], {}]
    # And another task under the same key is refused too
    with pytest.raises(ConfigurationError, match="already exists as a 'order' workflow"):
        _start(engine, "book", task="refund", **{via: name})
