# examples/local_runner.py
from wfcore import LocalRunner, NonDeterminismError

runner = LocalRunner()  # the real engine, an in-memory store, every message run in this thread


@runner.task
def double(x: int) -> int:
    return 2 * x


@runner.task
def flow(x: int) -> tuple[float, int]:
    wf = flow.wf
    drawn = wf.random()  # recorded at seq 0
    child = wf.execute_task(double, x)  # seq 1: suspends until the child is done, then replays
    return drawn, child.result


drawn, doubled = runner.run(flow, 21)
assert doubled == 42
assert 0.0 <= drawn < 1.0
assert issubclass(NonDeterminismError, Exception)
print(drawn, doubled)
