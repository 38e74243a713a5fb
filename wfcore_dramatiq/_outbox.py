"""``RedisOutbox``: messages written by the store's commits, for a RedisBroker on its server."""

from __future__ import annotations

from typing import Any, cast
from uuid import uuid4

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis, dq_name

from wfcore import InvocationRef
from wfcore._dispatch import Outbox
from wfcore._models import QueuePush
from wfcore.store import StateStore
from wfcore_dramatiq._compat import check_redis_layout
from wfcore_dramatiq._dispatch import hop, invocation_message

__all__ = ["RedisOutbox", "outbox_for"]


class RedisOutbox:
    """Builds the messages a commit writes, exactly as ``RedisBroker.enqueue`` would store them.

    ``RedisBroker.enqueue`` gives the message a fresh ``redis_message_id``, runs the
    broker's ``before_enqueue`` hooks, then its dispatch script stores the encoded message
    in ``<namespace>:<queue>.msgs`` and appends the id to ``<namespace>:<queue>``. Here the
    hooks run when the message is prepared, the commit does the two writes, and the
    ``after_enqueue`` hooks run once it has. A prepared message whose commit was not
    written (another writer won, or the workflow is being cancelled and the message goes
    the usual way) had its ``before_enqueue`` hooks run without ``after_enqueue``.

    Raises:
        ConfigurationError: the installed RedisBroker stores messages otherwise
            (``check_redis_layout``).
    """

    def __init__(self, broker: RedisBroker) -> None:
        check_redis_layout(broker)  # the keys and format written here must be the broker's
        self._broker = broker

    def prepare(self, ref: InvocationRef, delay: float | None = None) -> QueuePush:
        """The message that runs ``ref`` now, or after ``delay`` seconds (on the queue's
        delay queue, as ``RedisBroker.enqueue(delay=)`` stores it), for a write to carry."""
        broker = self._broker
        message_id = str(uuid4())
        delay_ms, not_before = (None, None) if delay is None else hop(delay)
        message = invocation_message(broker, ref, not_before, redis_message_id=message_id)
        if delay_ms is not None:
            eta = current_millis() + delay_ms
            message = message.copy(queue_name=dq_name(message.queue_name), options={"eta": eta})
        broker.emit_before("enqueue", message, delay_ms)
        queue = f"{broker.namespace}:{message.queue_name}"
        return QueuePush(queue, queue + ".msgs", message_id, message.encode(), (message, delay_ms))

    def pushed(self, push: QueuePush) -> None:
        """Run the broker's ``after_enqueue`` hooks for a message a write carried."""
        message, delay_ms = cast("tuple[dramatiq.Message[Any], int | None]", push.handle)
        self._broker.emit_after("enqueue", message, delay_ms)


def outbox_for(broker: dramatiq.Broker, store: StateStore) -> Outbox | None:
    """A ``RedisOutbox`` when ``broker`` is a RedisBroker on ``store``'s server and database.

    The store must write ``Batch.pushes`` and tell, with ``shares_server(client)``, that
    the broker's client reaches its database (``RedisStore`` does, and a ``DelegatingStore``
    around one). A RedisBroker cannot run on Redis Cluster, so a store sharing its server is
    a standalone one, where a commit may write the broker's keys. Anything else: None
    (messages are sent by ``broker.enqueue`` after each commit).
    """
    shares = getattr(store, "shares_server", None)
    if not isinstance(broker, RedisBroker) or shares is None:
        return None
    if not getattr(store, "writes_pushes", False):
        return None
    client: Any = broker.client
    return RedisOutbox(broker) if shares(client) else None
