"""What wfcore_dramatiq relies on in the installed Dramatiq, checked when an App is created.

The plugin uses Dramatiq's middleware hooks and message options, and ``RedisOutbox`` writes a
``RedisBroker``'s keys from the store's Lua scripts. Both are tied to the Dramatiq versions
the test suite runs; anything else fails loudly at start-up rather than losing messages.
"""

from __future__ import annotations

import inspect
import re

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from wfcore.errors import ConfigurationError

__all__ = ["SUPPORTED_DRAMATIQ", "check_dramatiq_version", "check_redis_layout"]

SUPPORTED_DRAMATIQ = ">=2.0,<3"
"""The Dramatiq versions wfcore is tested with (also the bound in its requirements)."""

_LOWEST, _BEYOND = (2, 0), (3, 0)

# How RedisBroker's dispatch script names a queue's keys and stores a message ("enqueue"),
# and how consumers take ids off the list: exactly what RedisOutbox's QueuePush writes.
# Compared with runs of whitespace collapsed.
_DISPATCH_LAYOUT = (
    'local queue_full_name = namespace .. ":" .. queue_name',
    'local queue_messages = queue_full_name .. ".msgs"',
    'if command == "enqueue" then local message_id = ARGS[1] local message_data = ARGS[2] '
    'redis.call("hset", queue_messages, message_id, message_data) '
    'redis.call("rpush", queue_full_name, message_id)',
    'redis.call("lpop", queue_full_name)',
    # How a delivery is acknowledged, which a commit's receipt does in its place.
    'local acks = namespace .. ":__acks__." .. worker_id',
    'local queue_acks = acks .. "." .. queue_name',
    'elseif command == "ack" then local message_id = ARGS[1] '
    'if redis.call("srem", queue_acks, message_id) > 0 then '
    'redis.call("hdel", queue_messages, message_id)',
)
# RedisBroker.enqueue: the per-delivery id option consumers ack by, and the delay queue.
_ENQUEUE_SOURCE = ('"redis_message_id"', "dq_name(queue_name)", '"eta"', "message.encode()")
# RedisBroker._dispatch: the worker id every command (acks too) names is the broker's id.
_DISPATCH_SOURCE = ("self.broker_id",)


def check_dramatiq_version(version: str | None = None) -> None:
    """Refuse a Dramatiq outside ``SUPPORTED_DRAMATIQ``.

    Raises:
        ConfigurationError: naming the installed and the supported versions.
    """
    installed = dramatiq.__version__ if version is None else version
    found = re.match(r"(\d+)\.(\d+)", installed)
    if found is not None and _LOWEST <= (int(found[1]), int(found[2])) < _BEYOND:
        return
    raise ConfigurationError(
        f"dramatiq {installed} is installed, but wfcore supports dramatiq {SUPPORTED_DRAMATIQ} "
        f"(the versions it is tested with); install one: pip install "
        f"'dramatiq[redis]{SUPPORTED_DRAMATIQ}'"
    )


def check_redis_layout(broker: RedisBroker) -> None:
    """Refuse to write ``broker``'s keys unless it stores messages the way ``RedisOutbox`` does.

    Reads the installed broker's dispatch script and ``enqueue`` source: the queue list
    ``<namespace>:<queue>``, the message hash ``<namespace>:<queue>.msgs``, ``HSET`` then
    ``RPUSH`` on enqueue, ``LPOP`` on fetch, the ``redis_message_id`` option, the delay queue,
    and the ack (``SREM`` from ``<namespace>:__acks__.<broker_id>.<queue>``, then ``HDEL``).

    Raises:
        ConfigurationError: naming what differs and the Dramatiq versions.
    """
    script = getattr(broker.scripts.get("dispatch"), "script", b"")
    text = script.decode() if isinstance(script, bytes) else str(script)
    text = " ".join(text.split())
    missing = [part for part in _DISPATCH_LAYOUT if part not in text]
    try:
        source = inspect.getsource(RedisBroker.enqueue)
    except (OSError, TypeError):
        source = ""
    missing += [part for part in _ENQUEUE_SOURCE if part not in source]
    try:
        dispatching = inspect.getsource(RedisBroker._dispatch)
    except (OSError, TypeError, AttributeError):
        dispatching = ""
    missing += [part for part in _DISPATCH_SOURCE if part not in dispatching]
    if not missing and isinstance(broker.namespace, str):
        return
    raise ConfigurationError(
        f"the RedisBroker of the installed dramatiq {dramatiq.__version__} does not store "
        f"messages the way wfcore writes them with its commits ({missing[:1] or 'namespace'} "
        f"differs); wfcore supports dramatiq {SUPPORTED_DRAMATIQ}: install one, or pass "
        "App(..., enqueue_in_commit=False) to send every message with broker.enqueue"
    )
