"""Heartbeats: the runs in progress marked alive, by a thread of their own per engine."""

from __future__ import annotations

import threading
import weakref

from wfcore._models import InvocationRef
from wfcore.engine.base import EngineBase, log

__all__ = ["Heartbeating"]


class Heartbeating(EngineBase):
    """Keeps ``updated_at`` of the invocations this process runs fresh, so a recovery sweep
    never takes a long run (a slow ``wf.deterministic`` step) for a lost one."""

    def heartbeat(self) -> int:
        """Mark the invocations this process is running as alive (``updated_at`` = now).

        The engine's heartbeat thread calls it every ``heartbeat_interval`` seconds (keep
        that well under the ``stale_after`` of every sweep). How many were marked.
        """
        with self._running_lock:
            refs = [InvocationRef(*key) for key in self._running]
        if refs:
            self.store.heartbeat(refs, self.clock())
        return len(refs)

    def track(self, ref: InvocationRef) -> None:
        """Count ``ref`` as running in this process (marked alive by the heartbeats) until
        as many ``untrack`` calls; for work the engine does not run itself (a queue's job
        recorded as a child)."""
        if self._heartbeat_thread is None:
            self._keep_alive()
        key = (ref.workflow_id, ref.invocation_id, ref.task_name)
        with self._running_lock:
            self._running[key] = self._running.get(key, 0) + 1

    def untrack(self, ref: InvocationRef) -> None:
        """End one ``track`` of ``ref``."""
        key = (ref.workflow_id, ref.invocation_id, ref.task_name)
        with self._running_lock:
            left = self._running.get(key, 0) - 1
            if left > 0:
                self._running[key] = left
            else:
                self._running.pop(key, None)

    def _keep_alive(self) -> None:
        """Start the heartbeat thread (on the first run: only processes that run invocations
        have one). It holds the engine weakly and ends with it, or with the process: a dead
        worker's invocations stop being marked alive, and a sweep re-sends them."""
        with self._running_lock:
            if self._heartbeat_thread is not None or self._heartbeat_interval <= 0:
                return
            self._heartbeat_thread = threading.Thread(
                target=_beat,
                args=(weakref.ref(self), self._heartbeat_interval),
                name="wfcore-heartbeat",
                daemon=True,
            )
            self._heartbeat_thread.start()


def _beat(engine_ref: weakref.ref[Heartbeating], interval: float) -> None:
    pause = threading.Event()  # never set: the thread ends with the engine or the process
    while not pause.wait(interval):
        engine = engine_ref()
        if engine is None:
            return
        try:
            engine.heartbeat()
        except Exception:  # a store blip must not end the heartbeats; the next one retries
            log.warning("marking running invocations alive failed; retrying", exc_info=True)
        del engine
