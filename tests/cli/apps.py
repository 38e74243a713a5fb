"""Apps the CLI tests load by MODULE:ATTRIBUTE, as users' CI would."""

from __future__ import annotations

from wfcore import LocalRunner, StateStore, Task
from wfcore_dramatiq import App

VERSION = {"v": 1}


def build_runner(store: StateStore | None = None) -> tuple[LocalRunner, Task[[int], int]]:
    """A runner with the CLI test tasks, on ``store`` (memory by default)."""
    runner = LocalRunner(store)

    @runner.task(name="cli.double")
    def double(x: int) -> int:
        return 2 * x

    @runner.task(name="cli.flow")
    def flow(x: int) -> int:
        wf = flow.wf
        wf.random()
        if VERSION["v"] == 2:
            wf.uuid()
        return int(wf.execute_task(double, x).result)

    return runner, flow


runner, _ = build_runner()
app = App(store="memory://", worker_threads=2)


@app.task
def triple(x: int) -> int:
    return 3 * x
