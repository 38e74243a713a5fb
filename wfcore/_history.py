"""History entries and outcomes: what one recorded operation or one finished invocation is."""

from __future__ import annotations

from dataclasses import dataclass
from time import time as _wall_clock  # bound here: never an async body's guard (wall_clock)
from typing import Any

from msgpack import packb as _packb

from wfcore._codec import Codec
from wfcore._models import WorkflowStatus
from wfcore.errors import DecodeError
from wfcore.store import StateStore

__all__ = [
    "CANCELLED_PREFIX",
    "Entry",
    "HistoryEvent",
    "Kind",
    "Outcome",
    "decode_entry",
    "decode_lifecycle",
    "decode_outcome",
    "encode_entry",
    "encode_outcome",
    "encode_lifecycle",
    "entry_prefix",
    "error_info",
    "is_operation",
    "read_history",
]


class Kind:
    """Kinds of recorded operation (stored as these strings)."""

    RANDOM = "random"
    RANDINT = "randint"
    CHOICE = "choice"
    UUID = "uuid"
    UTC_NOW = "utc_now"
    DETERMINISTIC = "deterministic"
    SET_DATA = "set_data"
    GET_DATA = "get_data"
    START_TASK = "start_task"
    PATCHED = "patched"
    SLEEP = "sleep"
    CANCELLED = "cancelled"
    WAIT_SIGNAL = "wait_signal"
    POLL_SIGNAL = "poll_signal"
    SIGNAL_WORKFLOW = "signal_workflow"
    RESUMED = "resumed"  # an async body's idle point: the waits delivered there (seqs)


@dataclass(slots=True)  # not frozen: built once per replayed operation, frozen costs 4x
class Entry:
    """One recorded operation at position ``seq`` of an invocation.

    ``ok`` is False when the operation raised; ``value`` is then the exception.
    ``recorded_at`` is the wall-clock time (epoch seconds) of its first execution.
    """

    seq: int
    kind: str
    name: str
    ok: bool
    value: Any
    recorded_at: float

    def describe(self) -> str:
        """``kind('name')`` or ``kind()``, as error messages show operations."""
        return describe(self.kind, self.name)


def describe(kind: str, name: str) -> str:
    """How an operation is named in messages: ``deterministic('charge')``, ``random()``."""
    return f"{kind}({name!r})" if name else f"{kind}()"


def encode_entry(codec: Codec, kind: str, name: str, ok: bool, value: Any, what: str) -> bytes:
    """Encode one entry; ``what`` names the operation in an ``EncodeError``."""
    return codec.encode([kind, name, ok, value, _wall_clock()], what=what)


def decode_entry(codec: Codec, seq: int, data: bytes, where: str) -> Entry:
    """Decode the entry at ``seq``; ``where`` names the invocation in a ``DecodeError``."""
    try:
        raw = codec.decode(data, what="history entry")
    except DecodeError as exc:
        # The location is formatted only on failure: this runs for every replayed operation.
        located = str(exc).replace("history entry", f"history entry {seq} of {where}", 1)
        raise DecodeError(located) from exc
    # Exact types (what the codec decodes to): cheaper than isinstance, run per replay.
    if (
        type(raw) is not list
        or len(raw) != 5
        or type(raw[0]) is not str
        or type(raw[1]) is not str
        or type(raw[2]) is not bool
        or type(raw[4]) is not float
    ):
        raise DecodeError(
            f"cannot decode history entry {seq} of {where}: not a [kind, name, ok, value, time] "
            "record; the stored "
            "history is corrupt (restore it from a backup or cancel this workflow)"
        )
    return Entry(seq, raw[0], raw[1], raw[2], raw[3], raw[4])


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an invocation ended: its status and its result or exception."""

    status: WorkflowStatus
    value: Any


def encode_outcome(codec: Codec, status: WorkflowStatus, value: Any, what: str) -> bytes:
    """Encode an outcome; ``what`` names the invocation in an ``EncodeError``."""
    return codec.encode([status.value, value], what=what)


def decode_outcome(codec: Codec, data: bytes, where: str) -> Outcome:
    """Decode an outcome stored for ``where``."""
    what = f"outcome of {where}"
    raw = codec.decode(data, what=what)
    status = None
    if type(raw) is list and len(raw) == 2 and type(raw[0]) is str:
        status = _STATUSES.get(raw[0])
    if status is None:
        raise DecodeError(f"cannot decode {what}: not a [status, value] record; it is corrupt")
    return Outcome(status, raw[1])


_STATUSES = {status.value: status for status in WorkflowStatus}


def error_info(error: object) -> tuple[str, str, str]:
    """(type name, message, traceback text) of a decoded error, whatever its class."""
    type_name = getattr(error, "type_name", None)
    if not isinstance(type_name, str):
        cls = type(error)
        module = cls.__module__
        type_name = cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"
    message = getattr(error, "message", None)
    if not isinstance(message, str):
        message = str(error)
    traceback = getattr(error, "traceback", None)
    if not isinstance(traceback, str):
        traceback = getattr(error, "wfcore_traceback", "")
    return type_name, message, str(traceback)


def entry_prefix(kind: str, name: str | None = None) -> bytes:
    """How every encoded operation of ``kind`` (and ``name``) starts: its 5-element array's
    mark, then those strings; tells what an entry records from its bytes, without decoding."""
    return b"\x95" + b"".join(_packb(part) for part in (kind, name) if part is not None)


# Lifecycle events share the history list with operations but take no seq. They are
# 4-element records (msgpack fixarray 0x94); operations are 5-element (0x95), so a load can
# tell them apart from the first byte without decoding.
LIFECYCLE_MARK = 0x94
_LIFECYCLE_BYTE = bytes((LIFECYCLE_MARK,))
_FAILURES = frozenset({"task_failed", "task_retrying"})
CANCELLED_PREFIX = entry_prefix(Kind.CANCELLED)  # a recorded cancellation's entry


def encode_lifecycle(codec: Codec, kind: str, detail: Any, execution: int) -> bytes:
    """Encode a lifecycle event (``task_started``, ``task_suspended``, ...)."""
    return codec.encode([kind, detail, _wall_clock(), execution], what=f"lifecycle event {kind}")


def decode_lifecycle(codec: Codec, data: bytes, where: str) -> tuple[str, Any, float, int]:
    """Decode a lifecycle event of ``where``: (kind, detail, time, execution)."""
    what = f"lifecycle event of {where}"
    raw = codec.decode(data, what=what)
    if (
        type(raw) is not list
        or len(raw) != 4
        or type(raw[0]) is not str
        or type(raw[2]) is not float
        or type(raw[3]) is not int
    ):
        raise DecodeError(
            f"cannot decode {what}: not a [kind, detail, time, execution] record; the stored "
            "history is corrupt"
        )
    return raw[0], raw[1], raw[2], raw[3]


def is_operation(data: bytes) -> bool:
    """True for a recorded operation, False for a lifecycle event.

    Anything that is not a lifecycle event (an empty or corrupt blob too) counts as an
    operation, so that decoding it reports the damage with its position.
    """
    return data[:1] != _LIFECYCLE_BYTE


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One line of a workflow's history: a lifecycle event or a recorded operation.

    Attributes:
        timestamp: when it happened (epoch seconds).
        invocation_id: the invocation it belongs to.
        task_name: that invocation's task.
        kind: a recorded operation's kind (``random``, ``start_task``, ``patched``, ``sleep``
            -- a timer scheduled, its value the fire time --, ``wait_signal``, ...),
            ``sleep_fired`` (when the timer at that seq fired), what the ``wait_signal`` or
            ``poll_signal`` at that seq consumed: ``signal_received`` (value: the payload;
            dated when the invocation took it), ``signal_timed_out`` or ``signal_closed``
            (cancelled; both dated when the wait ended, value None), or a lifecycle event:
            ``task_created``,
            ``task_started``, ``task_resumed``, ``task_suspended``, ``task_retrying``,
            ``task_completed``, ``task_failed``,
            ``task_cancelled``, ``task_continued`` (``wf.continue_as_new``; value: the next
            run and its root invocation), and for the root invocation of each of the
            workflow's runs the matching ``workflow_*`` events
            (``workflow_continued_as_new``).
        name: the operation's name (data key, step name, child task, change id), or "".
        seq: the operation's position, None for lifecycle events.
        ok: False for an operation that raised, a failure or a retry.
        value: the recorded value, the waited-on positions, the result or the error.
        execution: which execution of the invocation it happened in (1 = the first run).
    """

    timestamp: float
    invocation_id: str
    task_name: str
    kind: str
    name: str
    seq: int | None
    ok: bool
    value: Any
    execution: int | None = None


_WORKFLOW_EVENTS = {
    "task_started": "workflow_started",
    "task_resumed": "workflow_resumed",
    "task_suspended": "workflow_suspended",
    "task_completed": "workflow_completed",
    "task_failed": "workflow_failed",
    "task_cancelled": "workflow_cancelled",
    "task_continued": "workflow_continued_as_new",
}


def read_history(store: StateStore, codec: Codec, workflow_id: str) -> list[HistoryEvent]:
    """Every invocation of a workflow: lifecycle events and recorded operations, by time."""
    workflow = store.get_workflow(workflow_id)
    root = None if workflow is None else workflow.root_invocation_id
    events: list[HistoryEvent] = []
    for inv in store.list_invocations(workflow_id):
        snap = store.load(workflow_id, inv.invocation_id, claim=False)
        if snap is None:
            continue
        where = f"invocation {inv.invocation_id!r} of workflow {workflow_id!r}"
        line = (inv.invocation_id, inv.task_name)
        events.append(HistoryEvent(inv.created_at, *line, "task_created", "", None, True, None))
        seq = 0
        for index, data in enumerate(snap.entries):
            if is_operation(data):
                e = decode_entry(codec, seq, data, where)
                events.append(
                    HistoryEvent(e.recorded_at, *line, e.kind, e.name, seq, e.ok, e.value)
                )
                if e.kind in _SIGNAL_TAKES and seq in snap.outcomes:
                    taken = snap.outcomes[seq]
                    events.append(_signal_taken(codec, snap.entries, index, e, taken, line, where))
                if e.kind == Kind.SLEEP and seq in snap.outcomes:
                    fired_at = decode_outcome(codec, snap.outcomes[seq], where).value
                    if type(fired_at) is not float:
                        raise DecodeError(
                            f"cannot decode the firing time of timer {seq} of {where}: "
                            f"{type(fired_at).__qualname__}, not a time; it is corrupt"
                        )
                    events.append(
                        HistoryEvent(fired_at, *line, "sleep_fired", "", seq, True, e.value)
                    )
                seq += 1
                continue
            kind, detail, at, execution = decode_lifecycle(codec, data, where)
            ok = kind not in _FAILURES
            events.append(HistoryEvent(at, *line, kind, "", None, ok, detail, execution))
            # Every run's root speaks for the workflow (wf.continue_as_new makes runs).
            run_root = inv.invocation_id == root or inv.parent_workflow_id != workflow_id
            if run_root and kind in _WORKFLOW_EVENTS:
                events.append(
                    HistoryEvent(at, *line, _WORKFLOW_EVENTS[kind], "", None, ok, detail, execution)
                )
    events.sort(key=lambda ev: ev.timestamp)
    return events


_SIGNAL_TAKES = frozenset({Kind.WAIT_SIGNAL, Kind.POLL_SIGNAL})
# How a signal wait ended, by the status of the outcome at its position (wfcore._signals).
_SIGNAL_ENDS = {
    WorkflowStatus.COMPLETED: "signal_received",
    WorkflowStatus.FAILED: "signal_timed_out",
    WorkflowStatus.CANCELLED: "signal_closed",
}


def _signal_taken(
    codec: Codec,
    entries: list[bytes],
    index: int,
    e: Entry,
    taken: bytes,
    line: tuple[str, str],
    where: str,
) -> HistoryEvent:
    """The event for what the signal wait or poll ``e`` (``entries[index]``) consumed: the
    outcome ``taken`` recorded at its position.

    ``signal_received`` (value: the payload) is dated when the invocation took it: the
    wait's own time when a signal was buffered, else the first lifecycle event after the
    suspension the wait caused (it resumed with it; the suspension's time until it has).
    ``signal_timed_out`` and ``signal_closed`` (cancelled; value None) are dated when the wait
    ended.
    """
    outcome = decode_outcome(codec, taken, f"signal wait {e.seq} of {where}")
    kind = _SIGNAL_ENDS.get(outcome.status)
    if kind is None or (kind != "signal_received" and type(outcome.value) is not float):
        raise DecodeError(
            f"cannot decode what signal wait {e.seq} of {where} received: "
            f"{outcome.status.value} {type(outcome.value).__qualname__}; it is corrupt"
        )
    if kind != "signal_received":
        return HistoryEvent(outcome.value, *line, kind, e.name, e.seq, True, None)
    at, suspended = e.recorded_at, False
    for data in entries[index + 1 :]:
        if is_operation(data):
            break
        event, _, when, _ = decode_lifecycle(codec, data, where)
        at = when if suspended or event == "task_suspended" else at
        if suspended:
            break
        suspended = event == "task_suspended"
    return HistoryEvent(at, *line, kind, e.name, e.seq, True, outcome.value)
