"""A ``RedisStore``'s signals and workflow data reads."""

from __future__ import annotations

import time

from wfcore._models import InvocationRef, SignalResult, WorkflowStatus
from wfcore.store._redis_connection import RedisConnection, hash_fields

__all__ = ["RedisSignals"]


class RedisSignals(RedisConnection):
    """``send_signal`` (one script) and the data reads."""

    def read_data(self, workflow_id: str, key: str) -> bytes | None:
        """One workflow data value, or None when the key was never set."""
        with self._calls():
            value: bytes | None = self._call("HGET", self._base(workflow_id) + "data", key)
        return value

    def list_data(self, workflow_id: str) -> dict[str, bytes]:
        """Every workflow data value by key."""
        with self._calls():
            fields = self._call("HGETALL", self._base(workflow_id) + "data")
        return {key.decode(): value for key, value in sorted(hash_fields(fields).items())}

    def send_signal(
        self, workflow_id: str, name: str, payload: bytes, *, signal_id: str | None = None
    ) -> SignalResult:
        """Refuse, deliver to the oldest live wait, or buffer a signal, in one script."""
        base = self._base(workflow_id)
        keys = [base + "wf", base + "sigq:" + name, base + "sigw:" + name]
        keys += [base + "sigids", base + "signames"]
        with_id = "" if signal_id is None else "1"
        args = [base, name, payload, signal_id or "", with_id, repr(time.time())]
        with self._calls():
            reply = self._script(self._send_signal, keys=keys, args=args)
        outcome = reply[0].decode()
        if outcome == "missing":
            return SignalResult(status=None, accepted=False)
        status = WorkflowStatus(reply[1].decode())
        if outcome == "duplicate":
            return SignalResult(status=status, accepted=False, duplicate=True)
        if outcome == "refused":
            return SignalResult(status=status, accepted=False)
        if outcome == "buffered":
            return SignalResult(status=status, accepted=True)
        waiter = InvocationRef(workflow_id, reply[3].decode(), reply[4].decode())
        return SignalResult(status, True, wake=reply[2] == 1, waiter=waiter)
