"""An embedded App on the SQLite file ``$WFCORE_IT_SLEEPERS_STORE``, run as separate processes.

``python -m tests.integration.apps.sleepers MODE ...``:

- ``start N SECONDS``: start N workflows that sleep SECONDS, wait until all are SUSPENDED,
  print their ids (one JSON line), then idle until killed.
- ``wait ID...``: only ``app.handle(id).result(timeout=...)``; print the results (JSON).
- ``recover ID...``: only ``app.recover()``, then poll ``status()`` until all completed;
  print the statuses (JSON).

``wfcore worker --app tests.integration.apps.sleepers:app`` serves the same App.
"""

from __future__ import annotations

import json
import os
import sys
import time

from wfcore import WorkflowStatus
from wfcore_dramatiq import App

WAIT = 30.0
"""Seconds the waiting modes wait before giving up (exit 1)."""

app = App(
    store=os.environ["WFCORE_IT_SLEEPERS_STORE"],
    worker_threads=4,
    recovery_interval=0.3,
    stale_after=1.0,
)


@app.task
def nap(i: int, seconds: float) -> int:
    nap.wf.sleep(seconds)
    return i * 10


def _start(count: int, seconds: float) -> None:
    handles = [nap.send_with_options(args=(i, seconds)) for i in range(count)]
    deadline = time.monotonic() + WAIT
    while {h.status() for h in handles} != {WorkflowStatus.SUSPENDED}:
        if time.monotonic() > deadline:
            sys.exit("the workflows did not suspend")
        time.sleep(0.02)
    print(json.dumps([h.workflow_id for h in handles]), flush=True)
    while True:  # until the test kills this process
        time.sleep(60)


def _recover(ids: list[str]) -> None:
    app.recover()
    deadline = time.monotonic() + WAIT
    statuses: list[str] = []
    while time.monotonic() < deadline:
        statuses = [app.handle(i).status().value for i in ids]
        if set(statuses) == {WorkflowStatus.COMPLETED.value}:
            break
        time.sleep(0.1)
    print(json.dumps(statuses), flush=True)


def main(argv: list[str]) -> None:
    mode, rest = argv[0], argv[1:]
    try:
        if mode == "start":
            _start(int(rest[0]), float(rest[1]))
        elif mode == "wait":
            print(json.dumps([app.handle(i).result(timeout=WAIT) for i in rest]), flush=True)
        elif mode == "recover":
            _recover(rest)
        else:
            sys.exit(f"unknown mode {mode!r}")
    finally:
        app.close()


if __name__ == "__main__":
    main(sys.argv[1:])
