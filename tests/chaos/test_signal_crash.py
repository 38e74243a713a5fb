"""Issue 12: a process that dies between storing a signal and waking its waiter loses nothing.

The crash point ``after-signal-stored-before-wake`` (``tests.chaos.crashing``) kills the
process (``os._exit(137)``) right after the store accepted a signal for a suspended
``wait_signal`` and decided that this sender wakes the waiter, before the wake message is
sent. Nobody else will send it: the recovery sweep of a running worker must. Either way the
waiter completes exactly once, with the payload, and nothing is delivered twice.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest

from tests.chaos import starters
from tests.chaos.crashing import CRASH_ENV
from tests.chaos.harness import ChaosDeployment, wait_for
from tests.chaos.test_crash_points import RECOVERY_BOUND, ops_of
from wfcore import WorkflowStatus

pytestmark = pytest.mark.redis

POINT = "after-signal-stored-before-wake"
PAYLOAD = {"ok": True, "by": "ana", "n": 7}


def start_listener(chaos: ChaosDeployment, tag: str) -> Any:
    """Start a ``listener`` and wait until its invocation is suspended in ``wait_signal``."""
    handle = chaos.tasks.listener.send_with_options(args=(tag,))
    wid = handle.workflow_id

    def suspended() -> bool:
        inv = chaos.store.get_invocation(wid, wid)
        return inv is not None and inv.status is WorkflowStatus.SUSPENDED

    wait_for(suspended, 20, f"{wid} suspended in wait_signal")
    return handle


def check_delivered_once(chaos: ChaosDeployment, handle: Any, crashed_at: str) -> None:
    """The waiter completed once with the payload, took it once, and the sweep woke it."""
    wid = handle.workflow_id
    result = handle.result(timeout=RECOVERY_BOUND)
    assert result["got"] == PAYLOAD
    assert result["again"] is None  # the signal was not buffered a second time
    kinds = [k for k, _, _ in ops_of(chaos.store, wid, wid)]
    assert kinds == ["uuid", "set_data", "wait_signal", "poll_signal"]
    assert chaos.book.value("finished", f"{wid} {wid}") == 1
    assert chaos.book.value("signals", f"{wid} ping accepted") == 1
    assert crashed_at == f"{wid} {wid}"  # the crash lost this waiter's wake-up...
    assert chaos.book.value("swept", crashed_at) >= 1  # ...and the recovery sweep sent it
    replay = chaos.app.verify_replay(wid)
    assert replay.ok, replay.divergence


@pytest.mark.timeout(60)
def test_a_client_dying_after_storing_a_signal_loses_no_wake_up(chaos: ChaosDeployment) -> None:
    # Given a worker and a workflow suspended in wait_signal
    chaos.worker("w").start()
    handle = start_listener(chaos, "client")
    # When a client process signals it and dies after the store accepted the signal, before
    # sending the wake-up
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tests.chaos.starters"])
    env = chaos.env(**{CRASH_ENV: POINT})
    client = ctx.Process(target=starters.signal_and_die, args=(env, handle.workflow_id, PAYLOAD))
    client.start()
    client.join(timeout=30)
    assert client.exitcode == 137
    crashed_at = chaos.book.get(f"crash:{POINT}")
    assert crashed_at is not None
    # Then the running worker's sweep wakes it, and it completes exactly once with the payload
    check_delivered_once(chaos, handle, crashed_at)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("loss", [False, True], ids=["redelivered", "broker-lost"])
def test_a_worker_dying_after_signal_workflow_stored_loses_nothing(
    chaos_stores: ChaosDeployment, loss: bool
) -> None:
    chaos = chaos_stores
    # Given a worker armed to die after a signal is stored for a suspended wait (one thread:
    # nothing else in flight), a listener suspended in wait_signal, and a pinger workflow
    # that signals it with wf.signal_workflow
    armed = chaos.worker("armed", threads=1, crash_point=POINT).start()
    listener = start_listener(chaos, "worker")
    pinger = chaos.tasks.pinger.send_with_options(args=(listener.workflow_id, PAYLOAD))
    # When the worker dies after the store accepted the pinger's signal, before the wake-up
    # and before the pinger's own commit recorded that it sent it
    code = armed.wait_exit(timeout=30)
    crashed_at = chaos.book.get(f"crash:{POINT}")
    assert crashed_at is not None, f"the worker exited ({code}) without reaching {POINT}"
    assert code == 137, armed.log()[-2000:]
    assert ops_of(chaos.store, pinger.workflow_id, pinger.workflow_id) == []
    if loss:
        chaos.drop_broker_state()  # the pinger's unacked message is gone: only the sweep helps
    # And a worker (armed again: the crash is a one-off) takes over
    chaos.worker("restarted", crash_point=POINT).start()
    # Then the pinger completes; its replayed send was a duplicate the store dropped
    assert pinger.result(timeout=RECOVERY_BOUND) == "sent"
    assert pinger.status() is WorkflowStatus.COMPLETED
    pid = pinger.workflow_id
    assert [k for k, _, _ in ops_of(chaos.store, pid, pid)] == ["signal_workflow"]
    assert chaos.book.value("signals", f"{listener.workflow_id} ping duplicate") == 1
    assert chaos.app.verify_replay(pid).ok
    # And the listener was woken by the sweep and completed exactly once with the payload
    check_delivered_once(chaos, listener, crashed_at)
