"""Outcomes recorded from outside a run (a queue's own job run as a child), and data
attached to an invocation, finished or not."""

from __future__ import annotations

from typing import Any

from tests.support.engines import RecordingQueue
from wfcore import Engine, InvocationRef, TaskSpec, WorkflowStatus
from wfcore.errors import TaskFailedError
from wfcore.store.memory import MemoryStore


def _external(n: int) -> int:
    raise AssertionError("the engine never runs an external child itself")


EXTERNAL = TaskSpec("external", _external)


def _parent() -> Any:
    from wfcore import current

    try:
        return current().execute_task(EXTERNAL, 2).result
    except TaskFailedError as exc:
        return f"{exc.error_type}: {exc.error_message}"


PARENT = TaskSpec("parent", _parent)


def _engine() -> tuple[Engine, RecordingQueue, InvocationRef, InvocationRef]:
    """A parent suspended on one external child; the queue emptied."""
    queue = RecordingQueue()
    tasks = {"parent": PARENT, "external": EXTERNAL}
    engine = Engine(store=MemoryStore(), dispatcher=queue, tasks=tasks.__getitem__)
    _record, _ = engine.start(PARENT)
    root = queue.sent.pop()
    assert engine.run(root).status.value == "SUSPENDED"
    child = queue.sent.pop()
    assert child.task_name == "external"
    assert not queue.sent
    return engine, queue, root, child


def test_completing_from_outside_records_once_and_wakes_the_parent_once() -> None:
    engine, queue, root, child = _engine()
    # When the child's outcome arrives twice (a duplicate delivery)
    first = engine.complete(child, 42)
    second = engine.complete(child, 43)
    # Then the first wins, and the parent was woken once
    assert (first, second) == (True, False)
    assert queue.sent == [root]
    assert engine.run(root).value == 42


def test_a_value_the_codec_refuses_fails_the_child() -> None:
    engine, _queue, root, child = _engine()
    assert engine.complete(child, object())
    stored = engine.store.get_invocation(child.workflow_id, child.invocation_id)
    assert stored is not None
    assert stored.status is WorkflowStatus.FAILED
    assert str(engine.run(root).value).startswith("wfcore.errors.EncodeError: cannot encode result")


def test_data_is_attached_and_says_whether_the_invocation_was_still_unfinished() -> None:
    engine, _queue, root, child = _engine()
    assert engine.attach(root, "note", engine.codec.encode("kept"))
    assert engine.store.read_data(root.workflow_id, "note") == engine.codec.encode("kept")
    engine.complete(child, 1)
    engine.run(root)
    # A finished invocation: False (act on its finish yourself), but written all the same, so
    # a later finish of the resumed invocation finds it
    assert not engine.attach(root, "late", engine.codec.encode(1))
    assert engine.store.read_data(root.workflow_id, "late") == engine.codec.encode(1)
