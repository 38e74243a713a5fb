"""Dramatiq's global broker: an App's broker becomes it, so ``dramatiq myapp`` runs the App."""

from __future__ import annotations

import logging

import dramatiq
import dramatiq.broker
from dramatiq.brokers.redis import RedisBroker

__all__ = ["adopt_as_global", "describe"]

log = logging.getLogger("wfcore.dramatiq")


def adopt_as_global(broker: dramatiq.Broker) -> bool:
    """Make ``broker`` Dramatiq's global broker unless another one is set already.

    ``dramatiq myapp`` (no ``:broker``) imports the module and runs ``dramatiq.get_broker()``;
    without this it would boot a default broker with none of the App's actors and consume
    nothing. When another broker is global already it stays so (something set it on
    purpose), and a warning on the ``wfcore.dramatiq`` logger names both: a log record, not
    a Python warning, because a process with several Apps (a client of two deployments) is
    legitimate and only the worker command needs to be told.

    Returns:
        True if ``broker`` is the global broker now.
    """
    current = dramatiq.broker.global_broker
    if current is None:
        dramatiq.set_broker(broker)
        return True
    if current is broker:
        return True
    log.warning(
        "Dramatiq's global broker is already %s, so the App's broker %s does not become it: "
        "`dramatiq MODULE` runs the global broker's actors only; start this App's workers "
        "with `dramatiq MODULE:VARIABLE` naming its broker, or create the App on the "
        "global broker",
        describe(current),
        describe(broker),
    )
    return False


def describe(broker: dramatiq.Broker) -> str:
    """The broker's class, its Redis namespace if any, and its identity, for messages."""
    namespace = f"(namespace={broker.namespace!r})" if isinstance(broker, RedisBroker) else ""
    return f"{type(broker).__name__}{namespace} at 0x{id(broker):x}"
