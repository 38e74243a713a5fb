"""Idempotent start under concurrency: 20 processes start "the same" workflow at one instant.

Round 1 uses ``idempotency_key=``, round 2 an explicit ``workflow_id=``. Every caller must get
the same workflow id, exactly one workflow and one message must exist (checked before any
worker runs, on the broker's queue), it must run once, and a start after it finished must
return its result without running it again or sending anything.
"""

from __future__ import annotations

import multiprocessing
import time
import uuid
from concurrent.futures import ProcessPoolExecutor

import pytest

from tests.chaos import starters
from tests.chaos.harness import ChaosDeployment, wait_all, wait_for
from wfcore._identity import workflow_id_for_key
from wfcore.errors import ConfigurationError

pytestmark = pytest.mark.redis

CALLERS = 20


@pytest.mark.timeout(120)
def test_twenty_processes_starting_one_workflow_get_one_workflow(
    chaos: ChaosDeployment,
) -> None:
    key = f"order-{uuid.uuid4().hex}"
    explicit = f"explicit-{uuid.uuid4().hex}"
    env = chaos.env()
    book = chaos.book
    client = book.client
    queue = f"{chaos.namespace}:default"
    # A fork server that imported the client code once forks the 20 callers cheaply; each
    # caller still builds its own App, broker and store connections.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tests.chaos.starters"])
    with ProcessPoolExecutor(max_workers=CALLERS, mp_context=ctx) as pool:
        futures = [pool.submit(starters.start_twice, env, key, explicit) for _ in range(CALLERS)]
        # Given 20 processes connected and waiting for the same instant
        wait_for(lambda: book.value("starters", "ready") == CALLERS, 90, "20 ready callers")
        # When they all start by the same idempotency key at once (no worker runs yet)
        book.first("go1")
        wait_for(lambda: book.value("starters", "round1") == CALLERS, 30, "round 1")
        # Then exactly one workflow exists and exactly one message was sent
        by_key = chaos.store.list_workflows(workflow_type="counted")
        assert [w.workflow_id for w in by_key] == [workflow_id_for_key(key)]
        assert by_key[0].idempotency_key == key
        assert client.llen(queue) == 1
        # When they all start by the same explicit workflow id at once
        book.first("go2")
        ids = [f.result(timeout=60) for f in futures]
    # Then every caller got the same id in each round
    assert {r[0] for r in ids} == {workflow_id_for_key(key)}
    assert {r[1] for r in ids} == {explicit}
    for instants in ([r[2] for r in ids], [r[3] for r in ids]):  # each round at one instant
        assert max(instants) - min(instants) < 0.5
    listed = {w.workflow_id for w in chaos.store.list_workflows(workflow_type="counted")}
    assert listed == {workflow_id_for_key(key), explicit}
    assert client.llen(queue) == 2  # one message per workflow, none per extra caller
    # When a worker runs them
    worker = chaos.worker("w").start()
    handles = [chaos.app.handle(workflow_id_for_key(key)), chaos.app.handle(explicit)]
    results = wait_all(handles, timeout=30)
    # Then each ran once: one first execution, one attempt, one start event
    assert [r["tag"] for r in results] == ["by-key", "by-id"]
    for handle in handles:
        wid = handle.workflow_id
        assert book.value("counted-runs", wid) == 1
        root = chaos.store.get_invocation(wid, wid)
        assert root is not None
        assert root.attempts == 1
        starts = [e for e in handle.history() if e.kind == "workflow_started"]
        assert len(starts) == 1
        replay = chaos.app.verify_replay(wid)
        assert replay.ok, replay.divergence
    # When, with no worker left (stopped, so its messages' acks reached the broker), the
    # finished workflows are started again by key and id
    worker.stop()
    assert client.llen(queue) == 0
    started = time.monotonic()
    again = [
        chaos.tasks.counted.send_with_options(args=("by-key",), idempotency_key=key),
        chaos.tasks.counted.send_with_options(args=("by-id",), workflow_id=explicit),
    ]
    # Then the same workflows come back with their results, at once, and nothing is sent
    assert [h.workflow_id for h in again] == [h.workflow_id for h in handles]
    assert [h.result(timeout=5) for h in again] == results
    assert time.monotonic() - started < 5
    assert client.llen(queue) == 0
    assert client.llen(f"{chaos.namespace}:default.DQ") == 0
    for handle in handles:
        assert book.value("counted-runs", handle.workflow_id) == 1
    # And a start by the same key or id with other arguments is refused, naming them
    with pytest.raises(ConfigurationError, match="other arguments"):
        chaos.tasks.counted.send_with_options(args=("later",), idempotency_key=key)
    with pytest.raises(ConfigurationError, match="other arguments"):
        chaos.tasks.counted.send_with_options(args=("later",), workflow_id=explicit)
