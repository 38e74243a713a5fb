"""Workflow data shared by a workflow's invocations: ``wf.set_data`` and ``wf.get_data``."""

from __future__ import annotations

from typing import Any

from wfcore._history import Kind, encode_entry
from wfcore.context.replaying import Replaying
from wfcore.errors import ConfigurationError

__all__ = ["INTERNAL_KEY_PREFIX", "Data"]

INTERNAL_KEY_PREFIX = "wfcore."
"""Data keys wfcore keeps for itself (e.g. where a Dramatiq message's result goes): workflow
code can neither read nor write them, and ``handle.data()`` leaves them out."""


class Data(Replaying):
    """Data writes go with the next commit; reads are recorded."""

    def set_data(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` in the workflow's data (shared by its invocations)."""
        self._check_key("set_data", key)
        if self._replay(Kind.SET_DATA, key) is not None:
            return
        what = f"set_data({key!r})"
        encoded = self._rt.codec.encode(value, what=what)
        self._append(encode_entry(self._rt.codec, Kind.SET_DATA, key, True, value, what))
        # Written with the next commit, like the entry. Readers this code starts later (its
        # children) run after that commit; an invocation already running beside it could
        # have read the old value a moment earlier anyway. A crash before the commit loses
        # nothing the replay does not write again.
        self._data[key] = encoded

    def get_data(self, key: str, default: Any = None) -> Any:
        """The workflow data value under ``key``, or ``default``; what was read is recorded."""
        self._check_key("get_data", key)
        entry = self._replay(Kind.GET_DATA, key)
        if entry is not None:
            found, value = entry.value
            return value if found else default
        what = f"get_data({key!r})"
        raw = self._data.get(key)  # this run's own write, not committed yet
        if raw is None:
            raw = self._rt.store.read_data(self.workflow.workflow_id, key)
        value = None if raw is None else self._rt.codec.decode(raw, what=what)
        self._record(Kind.GET_DATA, key, [raw is not None, value])
        return value if raw is not None else default

    def _check_key(self, op: str, key: object) -> None:
        if not isinstance(key, str):
            raise ConfigurationError(
                f"wf.{op} keys must be str, got {type(key).__name__} {key!r:.40}; "
                "convert the key with str() or use a fixed name"
            )
        if key.startswith(INTERNAL_KEY_PREFIX):
            raise ConfigurationError(
                f"wf.{op} key {key!r:.60} starts with {INTERNAL_KEY_PREFIX!r}, which wfcore "
                "reserves for its own records; choose another key"
            )
