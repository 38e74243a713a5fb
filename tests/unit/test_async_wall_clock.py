"""The wall clock in async workflow bodies: refused where the body calls it, untouched elsewhere.

The bodies live in this module on purpose: its ``datetime``, ``date``, ``dt`` and ``wall``
names are rebound to wfcore's stand-ins by the first body run (see ``wfcore.context.wall_clock``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import threading
import time
from collections.abc import Callable
from datetime import date, datetime
from time import time as wall
from typing import Any, ClassVar

import pytest

from wfcore import LocalRunner, Replayer
from wfcore.errors import WorkflowFailedError

_BUILTIN = type(len)


def _helper_reading_the_clock() -> float:
    return time.time()  # a helper the body calls: refused too (the time module is guarded)


CALLS: dict[str, tuple[Callable[[], object], str]] = {
    "time.time": (lambda: time.time(), r"time\.time\(\)"),
    "time.time_ns": (lambda: time.time_ns(), r"time\.time_ns\(\)"),
    "time.monotonic": (lambda: time.monotonic(), r"time\.monotonic\(\)"),
    "time.monotonic_ns": (lambda: time.monotonic_ns(), r"time\.monotonic_ns\(\)"),
    "time.perf_counter": (lambda: time.perf_counter(), r"time\.perf_counter\(\)"),
    "time.perf_counter_ns": (lambda: time.perf_counter_ns(), r"time\.perf_counter_ns\(\)"),
    "time.sleep": (lambda: time.sleep(0), r"time\.sleep\(\)"),
    "from time import time": (lambda: wall(), r"time\.time\(\)"),
    "datetime.now": (lambda: datetime.now(), r"datetime\.now\(\)"),
    "datetime.now(tz)": (lambda: datetime.now(dt.UTC), r"datetime\.now\(\)"),
    "datetime.utcnow": (lambda: datetime.utcnow(), r"datetime\.utcnow\(\)"),
    "datetime.today": (lambda: datetime.today(), r"datetime\.today\(\)"),
    "date.today": (lambda: date.today(), r"date\.today\(\)"),
    "dt.datetime.now": (lambda: dt.datetime.now(), r"datetime\.now\(\)"),
    "dt.date.today": (lambda: dt.date.today(), r"date\.today\(\)"),
    "a helper's time.time": (_helper_reading_the_clock, r"time\.time\(\)"),
}


def _run(runner: LocalRunner, task: Any) -> Any:
    workflow_id = runner.start(task)
    runner.run_until_idle()
    return runner.engine.result(workflow_id)


def _fails(runner: LocalRunner, workflow_id: str, says: str) -> None:
    runner.run_until_idle()
    with pytest.raises(WorkflowFailedError, match=says) as failed:
        runner.engine.result(workflow_id)
    # What to use instead is named
    assert "wf.utc_now()" in str(failed.value) or "await wf.sleep" in str(failed.value)


@pytest.mark.parametrize("call", sorted(CALLS))
def test_a_wall_clock_call_in_a_body_fails_with_what_to_use_instead(call: str) -> None:
    runner = LocalRunner()
    read, says = CALLS[call]

    @runner.task(workflow=True)
    async def clocked() -> object:
        return read()

    _fails(runner, runner.start(clocked), says + " in a workflow body is not allowed")


def test_swallowing_the_clock_refusal_does_not_hide_it() -> None:
    runner = LocalRunner()

    @runner.task(workflow=True)
    async def sly() -> str:
        with contextlib.suppress(Exception):
            datetime.now()
        return "done"

    _fails(runner, runner.start(sly), r"datetime\.now\(\)")


def test_a_call_after_an_await_in_a_gathered_task_is_refused_too() -> None:
    runner = LocalRunner()

    @runner.task
    def leaf(i: int) -> int:
        return i

    @runner.task(workflow=True)
    async def later() -> object:
        async def branch(i: int) -> float:
            await later.wf.execute_task(leaf, i)
            return time.monotonic()

        return await asyncio.gather(branch(1), branch(2))

    _fails(runner, runner.start(later), r"time\.monotonic\(\)")


async def _stamp_on_a_real_loop() -> list[object]:
    await asyncio.sleep(0)
    return [time.time(), datetime.now().year, time.perf_counter()]


def test_steps_logging_and_utc_now_read_the_clock_freely() -> None:
    runner = LocalRunner()

    @runner.task(workflow=True)
    async def allowed() -> list[object]:
        wf = allowed.wf
        logging.getLogger("wfcore.tests").warning("a log record reads the clock: allowed")
        wf.logger.info("so does wfcore's logger")
        now = wf.utc_now()  # recorded
        stamped = await wf.deterministic("stamp", time.time)  # wfcore calls it: allowed
        made = await wf.deterministic("made", lambda: [datetime.now().year, date.today().year])
        looped = await wf.deterministic("looped", _stamp_on_a_real_loop)  # a real event loop
        with contextlib.suppress(TimeoutError):  # a durable timer on the virtual loop clock
            async with asyncio.timeout(1):
                await wf.wait_signal("never")
        return [now.year, stamped > 0, made, len(looped), asyncio.get_running_loop().time()]

    workflow_id = runner.start(allowed)
    runner.run_until_idle()
    year = datetime.now().year  # outside a body: the stand-in is the real clock
    assert runner.engine.result(workflow_id) == [year, True, [year, year], 3, 1.0]
    result = Replayer(runner._lookup).replay(runner.store, workflow_id)
    assert result.ok, result.divergence


def test_other_threads_read_the_clock_while_a_body_runs() -> None:
    runner = LocalRunner()
    inside, done = threading.Event(), threading.Event()
    seen: list[object] = []

    def other_thread() -> None:
        inside.wait(10)
        # The body's thread is inside its body now; this thread is not: nothing is refused.
        seen.extend([time.time(), time.monotonic(), datetime.now(), date.today(), wall()])
        done.set()

    def hold() -> int:  # runs in the body's thread, inside the body's run
        assert not isinstance(time.time, _BUILTIN)  # guarded while a body runs
        inside.set()
        return int(done.wait(10))

    @runner.task(workflow=True)
    async def holding() -> int:
        return int(await holding.wf.deterministic("hold", hold))

    thread = threading.Thread(target=other_thread)
    thread.start()
    assert _run(runner, holding) == 1
    thread.join(10)
    assert len(seen) == 5
    assert isinstance(seen[2], dt.datetime)


def test_the_time_module_is_restored_and_the_stand_ins_behave_as_the_classes() -> None:
    runner = LocalRunner()

    @runner.task(workflow=True)
    async def plain() -> int:
        return 1

    assert _run(runner, plain) == 1
    # No body runs: the time module's functions are the built-in ones again
    for name in ("time", "time_ns", "monotonic", "perf_counter", "sleep"):
        assert isinstance(getattr(time, name), _BUILTIN), name
    # This module's names were rebound by the body's first run; outside bodies they are the
    # real clock and the real classes to isinstance, issubclass, == and constructors
    real_datetime, real_date = type(dt.datetime.min), type(dt.date.min)
    assert datetime is not real_datetime  # the stand-in (every name bound to the class)
    made = datetime(2026, 1, 2, 3, 4)
    assert type(made) is real_datetime
    assert type(date(2026, 1, 2)) is real_date
    assert isinstance(real_datetime(2026, 1, 1), datetime)
    assert isinstance(made, date)
    assert issubclass(real_datetime, datetime)
    assert datetime == real_datetime
    assert type(datetime.fromisoformat("2026-01-02T03:04:00")) is real_datetime
    assert datetime.fromisoformat("2026-01-02T03:04:00") == made
    assert abs(wall() - datetime.now().timestamp()) < 60
    assert dt.timedelta(days=1) == dt.timedelta(hours=24)  # the module's other names


def test_the_time_module_stays_guarded_while_another_body_runs() -> None:
    runner, other = LocalRunner(), LocalRunner()
    states: list[bool] = []

    @other.task(workflow=True)
    async def inner() -> int:
        return 1

    def run_inner() -> bool:
        # A second body run in another thread while this body's run is still open.
        box: list[Any] = []
        thread = threading.Thread(target=lambda: box.append(_run(other, inner)))
        thread.start()
        thread.join(10)
        return not isinstance(time.time, _BUILTIN) and box == [1]

    @runner.task(workflow=True)
    async def outer() -> bool:
        return bool(await outer.wf.deterministic("inner", run_inner))

    states.append(_run(runner, outer))
    assert states == [True]
    assert isinstance(time.time, _BUILTIN)


def test_plain_async_tasks_and_sync_bodies_read_the_clock_as_before() -> None:
    runner = LocalRunner()

    @runner.task
    async def plain_async() -> list[object]:  # a plain async task: a real event loop
        await asyncio.sleep(0)
        return [time.time() > 0, datetime.now().year > 2000, wall() > 0]

    @runner.task
    def sync_body() -> list[object]:  # the sync API is unchanged
        return [time.time() > 0, datetime.now().year > 2000]

    @runner.task(workflow=True)
    async def parent() -> list[object]:
        first = await parent.wf.execute_task(plain_async)
        second = await parent.wf.execute_task(sync_body)
        return [first.result, second.result]

    assert _run(runner, parent) == [[True, True, True], [True, True]]


def test_a_subclass_of_the_stand_in_makes_its_own_instances() -> None:
    runner = LocalRunner()

    @runner.task(workflow=True)
    async def rebinds() -> int:
        return 1

    assert _run(runner, rebinds) == 1
    assert datetime is not type(dt.datetime.min)  # this module's name is the stand-in now

    class Stamp(datetime):  # defined after this module's names were rebound
        def label(self) -> str:
            return self.strftime("%Y")

    made = Stamp(2026, 5, 6)
    assert type(made) is Stamp
    assert made.label() == "2026"
    assert isinstance(made, dt.datetime)


def test_a_time_function_replaced_during_a_body_run_is_left_alone_then_healed() -> None:
    runner = LocalRunner()
    saved: list[Any] = []

    def fake() -> float:
        return 42.0

    def replace() -> bool:
        # As monkeypatch.setattr(time, "time", fake) would, while the body runs
        saved.append(time.time)  # the guard, installed for the run
        time.time = fake
        return True

    @runner.task(workflow=True)
    async def replacing() -> bool:
        return bool(await replacing.wf.deterministic("replace", replace))

    @runner.task(workflow=True)
    async def plain() -> int:
        return 1

    try:
        assert _run(runner, replacing) is True
        assert time.time is fake  # not clobbered by the guard's restore
        time.time = saved[0]  # as monkeypatch's undo would: the guard comes back
        assert not isinstance(time.time, _BUILTIN)
        assert _run(runner, plain) == 1
        assert isinstance(time.time, _BUILTIN)  # the next body run's end puts the original back
    finally:
        if not isinstance(time.time, _BUILTIN):
            time.time = saved[0].__wrapped__


class _Cycle:
    """Garbage only a collection frees; its finalizer reads the clock, as a pool's might."""

    readings: ClassVar[list[object]] = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        _Cycle.readings.append(time.monotonic())


def test_garbage_collection_callbacks_and_finalizers_read_the_clock_during_a_body() -> None:
    # Given a gc callback (a metrics library timing collections) and a finalizer that read
    # the clock from this module, which is not wfcore's and not the standard library's
    timings: list[tuple[str, float, dt.datetime]] = []

    def timing(phase: str, info: dict[str, int]) -> None:
        timings.append((phase, time.perf_counter(), datetime.now()))

    runner = LocalRunner()

    @runner.task(workflow=True)
    async def collecting() -> int:
        _Cycle()
        # A collection that runs while the body runs (here forced, usually an allocation's)
        return gc.collect()

    gc.callbacks.append(timing)
    _Cycle.readings.clear()
    try:
        # When the body runs and a collection runs in its thread
        _run(runner, collecting)
    finally:
        gc.callbacks.remove(timing)
    # Then the collection's callbacks and finalizers read the clock, and the run succeeded
    assert [t[0] for t in timings[:2]] == ["start", "stop"]
    assert all(isinstance(t[1], float) and isinstance(t[2], dt.datetime) for t in timings)
    assert _Cycle.readings
    assert all(isinstance(r, float) for r in _Cycle.readings)

    # And after the collection the body's own reading is refused as before
    @runner.task(workflow=True)
    async def reading() -> int:
        gc.collect()
        return int(time.perf_counter())

    _fails(runner, runner.start(reading), r"time\.perf_counter\(\) in a workflow body")
