"""Group commit for ``SQLiteStore``: the writes that threads of one process make at the same
time share a transaction instead of queueing for one each.

SQLite runs one write transaction at a time per file, so under many worker threads the
transactions are the critical path and each hand-over from one writer thread to the next
(a lock release, a thread woken, the GIL passed) adds to it. Here the thread that finds no
transaction running leads: it runs its own write and, in the same transaction before it
commits, the writes queued meanwhile, each in its own savepoint (one that fails is rolled
back alone, the others commit). It then runs what queued during that commit in one more
transaction, and hands the lead to the first writer still queued. A writer's call returns
only after the transaction holding its write committed, so a write is exactly as durable as
before; if that transaction fails as a whole, every write in it gets the error (none of them
is reported done).
"""

from __future__ import annotations

import _thread
import os
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["GroupCommit", "Write"]

T = TypeVar("T")


class Write(Generic[T]):
    """One writer's write: the function to run in a transaction, and its outcome."""

    __slots__ = ("done", "error", "fn", "lead", "result", "settled")

    def __init__(self, fn: Callable[[Any], T]) -> None:
        self.fn = fn
        self.result: T | None = None
        self.error: BaseException | None = None
        self.settled = False
        self.lead = False  # woken to lead rather than with an outcome
        self.done = _thread.allocate_lock()
        self.done.acquire()

    def succeed(self, result: T) -> None:
        self.result, self.settled = result, True

    def fail(self, error: BaseException) -> None:
        self.error, self.settled = error, True

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class GroupCommit:
    """Runs writes one transaction at a time, sharing a transaction among the writes of
    threads that arrive while another transaction runs.

    ``execute(batch, more)`` runs every write of ``batch`` in one transaction, and before
    committing takes the writes queued meanwhile with ``more()`` (which appends them to
    ``batch`` and returns them) as long as it likes; it settles each write of ``batch``
    (``succeed`` once the transaction committed, or ``fail``). A write it leaves unsettled,
    because it raised, fails with ``interrupted(error)``.
    """

    def __init__(
        self,
        execute: Callable[[list[Write[Any]], Callable[[], list[Write[Any]]]], None],
        interrupted: Callable[[BaseException], BaseException],
    ) -> None:
        self._execute = execute
        self._interrupted = interrupted
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._pending: list[Write[Any]] = []
        self._leading = False

    def run(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(connection)`` in a write transaction; its value once committed."""
        if self._pid != os.getpid():  # forked: the parent's threads do not exist here
            self._reset()
        write = Write(fn)
        with self._lock:
            follow = self._leading
            if follow:
                self._pending.append(write)
            else:
                self._leading = True
        if not follow:
            self._lead([write])
        else:
            write.done.acquire()
            if write.lead:
                self._lead(self._take())  # holds this write (nobody else takes from the queue)
        return write.outcome()

    def _take(self) -> list[Write[Any]]:
        """The writes queued so far, taken off the queue."""
        with self._lock:
            taken, self._pending = self._pending, []
        return taken

    def _lead(self, batch: list[Write[Any]]) -> None:
        """Run ``batch``, then what queued meanwhile, then pass the lead on."""
        try:
            self._deliver(batch)
            if self._pending:
                self._deliver(self._take())
        finally:
            with self._lock:
                if self._pending:
                    heir = self._pending[0]
                    heir.lead = True
                    heir.done.release()
                else:
                    self._leading = False

    def _deliver(self, batch: list[Write[Any]]) -> None:
        def more() -> list[Write[Any]]:
            if not self._pending:  # unlocked: a write queued just after waits for the next
                return []
            taken = self._take()
            batch.extend(taken)
            return taken

        try:
            self._execute(batch, more)
        except BaseException as e:
            for write in batch:
                if not write.settled:
                    write.fail(self._interrupted(e))
            raise
        finally:
            for write in batch:
                write.done.release()  # a leader's own write: released, never waited on
