"""Signals inside a workflow: ``wf.wait_signal``, ``wf.poll_signal``, ``wf.signal_workflow``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from wfcore import _signals
from wfcore._durations import to_seconds
from wfcore._history import Kind, encode_outcome
from wfcore._models import SignalTake, WorkflowStatus
from wfcore.context.aio_loop import DeterministicLoop, Wait
from wfcore.context.awaiting import Awaiting
from wfcore.context.runtime import _Conflict, _Suspend
from wfcore.errors import SignalTimeoutError

__all__ = ["Signals"]

_RAISE: Any = object()  # wait_signal's default: raise SignalTimeoutError on timeout
_NOT_FOUND = "NOT_FOUND"  # recorded by signal_workflow for a target that does not exist


class Signals(Awaiting):
    """Waits and polls consume signals; which one each took is recorded (as the outcome at
    its position), so every replay returns the same payload."""

    def wait_signal(
        self, name: str, timeout: float | timedelta | str | None = None, default: Any = _RAISE
    ) -> Any:
        """The next signal ``name`` sent to this workflow; suspends (no worker held) until one
        comes. In an async workflow body, ``await wf.wait_signal(...)``.

        Signals of one name are consumed in the order they were accepted; one sent before
        the wait is buffered and returned at once.

        Args:
            name: the signal's name.
            timeout: None (wait for ever), seconds, a ``timedelta`` or "90s", "2d", ...: a
                durable timer; whichever comes first, signal or timer, wins, and a signal
                that comes after stays buffered for the next wait.
            default: returned on timeout; without it a timeout raises.

        Raises:
            SignalTimeoutError: the timeout passed and no ``default`` was given.
        """
        _signals.check_name("wf.wait_signal", name)
        seconds = None if timeout is None else to_seconds(timeout)
        aio = None if self._aio is None else self._loop()
        seq = self._seq
        entry = self._replay(Kind.WAIT_SIGNAL, name)
        if entry is not None:
            fire_at = None if entry.value is None else float(entry.value)
        else:
            fire_at = None if seconds is None else self._rt.clock() + seconds
            self._record(Kind.WAIT_SIGNAL, name, fire_at)
            # Taking a buffered signal, or registering this wait, is one write with the entry.
            self._take(seq, SignalTake(name, seq, wait=True))
        if aio is not None:
            return self._signal_future(aio, seq, name, fire_at, seconds, default)
        if seq not in self._outcomes and self._cancel_pending and not self._strict:
            self._end_wait(seq, _signals.CLOSED)  # a cancelled wait takes no later signal
        self._cancel_point()
        if seq not in self._outcomes:
            if self._strict or fire_at is None or self._rt.clock() < fire_at:
                self._fatal = _Suspend([seq], wake_at=fire_at)
                raise self._fatal
            self._end_wait(seq, _signals.TIMED_OUT)
        self._waited((seq,))
        return self._signal_value(seq, name, seconds, default)

    def _signal_future(
        self,
        aio: DeterministicLoop,
        seq: int,
        name: str,
        fire_at: float | None,
        seconds: float | None,
        default: Any,
    ) -> Any:
        """An async body's signal wait: delivered at an idle point (see .awaiting)."""

        def closed() -> None:
            if seq not in self._outcomes:
                self._end_wait(seq, _signals.CLOSED)  # a cancelled wait takes no later signal

        future = aio.wait_future()
        aio.add_wait(
            Wait(
                (seq,),
                lambda: self._signal_value(seq, name, seconds, default),
                future=future,
                fire_at=fire_at,
                on_due=lambda: self._end_wait(seq, _signals.TIMED_OUT),
                on_cancel=closed,
            )
        )
        return future

    def _signal_value(self, seq: int, name: str, seconds: float | None, default: Any) -> Any:
        outcome = self._outcome_at(seq, f"signal {name!r}")
        if outcome.status is _signals.RECEIVED:
            return outcome.value
        if default is not _RAISE:
            return default
        raise SignalTimeoutError(
            f"{self._where}: no signal {name!r} came within {_timeout(seconds)}; pass "
            "default= to wait_signal to get a value instead",
            name=name,
            timeout=seconds or 0.0,
        )

    def poll_signal(self, name: str, default: Any = None) -> Any:
        """The next signal ``name`` if one is buffered, else ``default``; never waits.

        What it returned is recorded: replays return the same.
        """
        _signals.check_name("wf.poll_signal", name)
        seq = self._seq
        if self._replay(Kind.POLL_SIGNAL, name) is None:
            self._record(Kind.POLL_SIGNAL, name, None)
            self._take(seq, SignalTake(name, seq, wait=False))
        if seq not in self._outcomes:
            return default
        return self._outcome_at(seq, f"signal {name!r}").value

    def signal_workflow(self, workflow_id: str, name: str, payload: Any) -> None:
        """Send signal ``name`` with ``payload`` to another workflow, exactly once however
        often this code replays (its id derives from this position).

        Raises:
            WorkflowNotRunningError: the target has finished (every replay raises it too).
            WorkflowNotFoundError: there is no such workflow (likewise).
            EncodeError: ``payload`` cannot be encoded; nothing was sent or recorded.
        """
        op = "wf.signal_workflow"
        _signals.check_name(op, workflow_id, "workflow id")
        _signals.check_name(op, name)
        seq = self._seq
        entry = self._replay(Kind.SIGNAL_WORKFLOW, name)
        if entry is not None:
            target, refused = entry.value
        else:
            rt = self._rt
            if self._buffer or self._data or self._new_children:
                self._flush()  # what the payload came from is durable before anyone sees it
            signal_id = f"wf:{self.workflow.workflow_id}:{self.invocation_id}:{seq}"
            sent = _signals.send(
                rt.store, rt.codec, rt.dispatcher, workflow_id, name, payload, signal_id, op
            )
            target, refused = workflow_id, None
            if not (sent.accepted or sent.duplicate):
                refused = _NOT_FOUND if sent.status is None else sent.status.value
            self._record(Kind.SIGNAL_WORKFLOW, name, [target, refused])
            self._flush()
        if refused is not None:
            status = None if refused == _NOT_FOUND else WorkflowStatus(refused)
            raise _signals.refusal(target, name, status)

    def _take(self, seq: int, take: SignalTake) -> None:
        taken = self._flush(signal=take).signal
        if taken is not None:
            self._outcomes[seq] = taken

    def _end_wait(self, seq: int, status: WorkflowStatus) -> None:
        """End the wait at ``seq`` with ``status`` (timed out, cancelled); first writer wins:
        a signal recorded there first is the outcome, so this run replays to read it."""
        rt = self._rt
        ended = encode_outcome(rt.codec, status, rt.clock(), f"end of the wait at seq {seq}")
        told = rt.store.record_outcome(self.workflow.workflow_id, self.invocation_id, seq, ended)
        if not told.recorded:
            self._fatal = _Conflict()
            raise self._fatal
        self._outcomes[seq] = ended


def _timeout(seconds: float | None) -> str:
    return "its timeout" if seconds is None else f"{seconds:g} s"
