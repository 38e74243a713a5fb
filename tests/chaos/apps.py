"""The workflow tasks of the chaos suite, declared the same way by the test and every worker.

Shapes (each returns what it recorded, so a test can compare results with histories):

- ``leaf(tag)``: random, uuid, utc_now, then ``set_data``, all written by its finish.
- ``sub(tag)``: a ``force_new_workflow`` child workflow: uuid, a short durable sleep, then a
  plain ``leaf`` child of its own.
- ``parent(tag)``: random/uuid/utc_now + ``set_data``, a ``wf.deterministic`` step (the
  checkpoint that flushes them), then two plain ``leaf`` children and one ``sub`` child
  workflow started together, one ``wait`` for all three, a short sleep, utc_now.
- ``racer(tag)``: like ``leaf`` plus a cross-process rendezvous step (``wf.deterministic``),
  then a plain child; two deliveries of one message reach the rendezvous together and race to
  commit it.
- ``mixed(i)``: the chaos test's workflow; ``i % 4`` picks a sequential pair of children, a
  ``sub`` child workflow, a fan-out of ``FANOUT`` leaves with one ``wait``, or a sleep.
- ``listener(tag)``: uuid, then ``wait_signal("ping")``; returns the payload and what a
  ``poll_signal("ping")`` right after finds (None: nothing was delivered twice).
- ``pinger(target, payload)``: ``wf.signal_workflow(target, "ping", payload)``.
- ``counted(tag)``: one body execution counted per first run (idempotent start tests).
- ``long_step(tag, seconds)``: one ``wf.deterministic`` step of ``seconds``, each execution
  of its body counted (heartbeat tests: longer than ``stale_after``, it must run once).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from tests.chaos.crashing import Book
from wfcore_dramatiq import App, DramatiqTask

__all__ = ["FANOUT", "ChaosTasks", "expected_shape"]

FAST: dict[str, Any] = {"min_backoff": 20, "max_backoff": 200, "max_retries": 50}
"""Quick Dramatiq retries (the defaults back off for 15 s and more)."""

FANOUT = 10
SLEEP_S = 0.3


def expected_shape(i: int) -> tuple[int, int, int]:
    """For the tree of ``mixed(i)``: (workflows, invocations, start_task entries)."""
    kind = i % 4
    if kind == 0:
        return 1, 3, 2
    if kind == 1:
        return 2, 3, 2
    if kind == 2:
        return 1, 1 + FANOUT, FANOUT
    return 1, 1, 0


class ChaosTasks:
    """Every task of the suite, declared on ``app``; side effects are counted in ``book``."""

    def __init__(self, app: App, book: Book) -> None:
        self.app = app
        self.book = book

        @app.task(**FAST)
        def leaf(tag: str) -> dict[str, Any]:
            wf = leaf.wf
            book.count("leaf-runs", wf.invocation_id)
            r = wf.random()
            u = wf.uuid()
            now = wf.utc_now()
            wf.set_data(f"leaf:{wf.invocation_id}", u)
            return {"tag": tag, "random": r, "uuid": u, "now": now}

        @app.task(force_new_workflow=True, **FAST)
        def sub(tag: str) -> dict[str, Any]:
            wf = sub.wf
            u = wf.uuid()
            wf.sleep(SLEEP_S)
            inner = wf.execute_task(leaf, f"{tag}/inner")
            return {"tag": tag, "uuid": u, "inner": inner.result}

        @app.task(**FAST)
        def parent(tag: str) -> dict[str, Any]:
            wf = parent.wf
            r = wf.random()
            u = wf.uuid()
            t0 = wf.utc_now()
            wf.set_data("seed", {"random": r, "uuid": u})
            mark = wf.deterministic("mark", str.upper, tag)
            h1 = wf.start_task(leaf, f"{tag}/a")
            h2 = wf.start_task(sub, f"{tag}/b")
            h3 = wf.start_task(leaf, f"{tag}/c")
            a, b, c = wf.wait(h1, h2, h3)
            wf.sleep(SLEEP_S)
            t1 = wf.utc_now()
            wf.set_data("done", True)
            return {
                "random": r,
                "uuid": u,
                "t0": t0,
                "t1": t1,
                "mark": mark,
                "children": [a.result, b.result, c.result],
                "sub_workflow": b.workflow.workflow_id,
            }

        @app.task(**FAST)
        def racer(tag: str, parties: int) -> dict[str, Any]:
            wf = racer.wf
            book.count("racer-runs", wf.invocation_id)
            r = wf.random()
            u = wf.uuid()
            now = wf.utc_now()
            met = wf.deterministic("rendezvous", rendezvous, book, f"{wf.invocation_id}", parties)
            h = wf.start_task(leaf, f"{tag}/child")
            wf.set_data("racer", u)
            child = wf.wait(h)[0]
            return {"random": r, "uuid": u, "now": now, "met": met, "child": child.result}

        @app.task(**FAST)
        def mixed(i: int) -> dict[str, Any]:
            wf = mixed.wf
            kind = i % 4
            u = wf.uuid()
            out: dict[str, Any] = {"i": i, "uuid": u}
            if kind == 0:
                out["children"] = [
                    wf.execute_task(leaf, f"{i}/a").result,
                    wf.execute_task(leaf, f"{i}/b").result,
                ]
            elif kind == 1:
                out["children"] = [wf.execute_task(sub, f"{i}/sub").result]
            elif kind == 2:
                handles = [wf.start_task(leaf, f"{i}/{k}") for k in range(FANOUT)]
                out["children"] = [res.result for res in wf.wait(*handles)]
            else:
                wf.sleep(SLEEP_S)
                out["random"] = wf.random()
                out["now"] = wf.utc_now()
            wf.set_data("done", u)
            return out

        @app.task(**FAST)
        def listener(tag: str) -> dict[str, Any]:
            wf = listener.wf
            u = wf.uuid()
            wf.set_data("listening", u)  # written by the commit that registers the wait
            got = wf.wait_signal("ping")
            return {"tag": tag, "uuid": u, "got": got, "again": wf.poll_signal("ping")}

        @app.task(**FAST)
        def pinger(target: str, payload: Any) -> str:
            pinger.wf.signal_workflow(target, "ping", payload)
            return "sent"

        @app.task(**FAST)
        def counted(tag: str) -> dict[str, Any]:
            wf = counted.wf
            if not wf.is_replaying:
                book.count("counted-runs", wf.workflow.workflow_id)
            u = wf.uuid()
            wf.set_data("tag", tag)
            return {"tag": tag, "uuid": u, "workflow_id": wf.workflow.workflow_id}

        @app.task(**FAST)
        def long_step(tag: str, seconds: float) -> str:
            def charge() -> str:
                book.count("long-step-runs", tag)
                time.sleep(seconds)
                return f"charged {tag}"

            return str(long_step.wf.deterministic("charge", charge))

        self.long_step: DramatiqTask[[str, float], str] = long_step
        self.leaf: DramatiqTask[[str], dict[str, Any]] = leaf
        self.sub: DramatiqTask[[str], dict[str, Any]] = sub
        self.parent: DramatiqTask[[str], dict[str, Any]] = parent
        self.racer: DramatiqTask[[str, int], dict[str, Any]] = racer
        self.mixed: DramatiqTask[[int], dict[str, Any]] = mixed
        self.counted: DramatiqTask[[str], dict[str, Any]] = counted
        self.listener: DramatiqTask[[str], dict[str, Any]] = listener
        self.pinger: DramatiqTask[[str, Any], str] = pinger


def rendezvous(book: Book, name: str, parties: int, timeout: float = 5.0) -> int:
    """Arrive at a cross-process meeting point; wait (bounded) until ``parties`` arrived.

    Returns how many had arrived when this one left.
    """
    arrived = book.count("rendezvous", name)
    deadline = time.monotonic() + timeout
    while arrived < parties and time.monotonic() < deadline:
        time.sleep(0.002)
        arrived = book.value("rendezvous", name)
    return arrived


def as_datetime(value: object) -> datetime:
    """A decoded datetime (narrowed for the type checker)."""
    assert isinstance(value, datetime), value
    return value
