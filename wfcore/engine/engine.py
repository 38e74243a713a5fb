"""``Engine``: starts workflows and runs invocations against a store to their outcome."""

from __future__ import annotations

from wfcore.engine.bulk import Bulk
from wfcore.engine.recovery import Recovery
from wfcore.engine.run import Running
from wfcore.engine.signals import Signalling
from wfcore.engine.start import Starting

__all__ = ["Engine"]


class Engine(Starting, Running, Recovery, Signalling, Bulk):
    """Runs invocations of registered tasks against a store, dispatching through a port."""
