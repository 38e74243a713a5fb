"""Run in separate processes: clients that start workflows.

``start_twice``: start one workflow at the same instant as everyone else. Each process
builds its own client App (RedisBroker + RedisStore, as a real client would), says it is
ready, waits for the test's "go" marker, and calls ``send_with_options`` once per round:
first with an ``idempotency_key``, then with an explicit ``workflow_id``.

``start_and_die``: a client that dies between creating a workflow and sending its message.

``signal_and_die``: a client that dies between storing a signal and sending the wake-up.
"""

from __future__ import annotations

import time

from tests.chaos.harness import build_app

__all__ = ["signal_and_die", "start_and_die", "start_twice"]


def _wait_go(book_get: object, name: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    assert callable(book_get)
    while book_get(name) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {name!r} signal within {timeout} s")
        time.sleep(0.001)


def start_twice(env: dict[str, str], key: str, workflow_id: str) -> tuple[str, str, float, float]:
    """Start ``counted`` by ``key`` at "go1" and by ``workflow_id`` at "go2".

    Returns both workflow ids and the wall-clock instant of each call.
    """
    app, tasks = build_app(env, armed=False)
    try:
        app.store.ping()
        tasks.book.count("starters", "ready")
        _wait_go(tasks.book.get, "go1")
        at1 = time.time()
        first = tasks.counted.send_with_options(args=("by-key",), idempotency_key=key)
        tasks.book.count("starters", "round1")
        _wait_go(tasks.book.get, "go2")
        at2 = time.time()
        second = tasks.counted.send_with_options(args=("by-id",), workflow_id=workflow_id)
        return first.workflow_id, second.workflow_id, at1, at2
    finally:
        app.close()
        app.broker.close()
        tasks.book.close()


def start_and_die(env: dict[str, str], workflow_id: str) -> None:
    """Start ``parent`` as ``workflow_id`` in a client armed to die (``WFCORE_CRASH_POINT``)
    between creating the workflow and sending its message."""
    _, tasks = build_app(env, armed=True)
    tasks.parent.send_with_options(args=("client-crash",), workflow_id=workflow_id)
    raise AssertionError("the client should have died before sending")


def signal_and_die(env: dict[str, str], workflow_id: str, payload: object) -> None:
    """Signal "ping" to ``workflow_id`` from a client armed to die (``WFCORE_CRASH_POINT``)
    between the store accepting it for a suspended wait and the wake message."""
    app, _ = build_app(env, armed=True)
    app.signal(workflow_id, "ping", payload)
    raise AssertionError("the client should have died before waking the waiter")
