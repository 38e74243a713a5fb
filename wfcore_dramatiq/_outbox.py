"""``RedisOutbox``: messages written, and deliveries acknowledged, by the store's commits, for
a RedisBroker on its server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast
from uuid import uuid4

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis, dq_name

from wfcore import InvocationRef
from wfcore._models import QueuePush, QueueReceipt
from wfcore.store import StateStore
from wfcore_dramatiq._compat import check_redis_layout
from wfcore_dramatiq._dispatch import hop, invocation_message, ref_from_options
from wfcore_dramatiq._messages import awaits_reply

__all__ = ["RedisOutbox", "outbox_for"]

_ACKED = "_wfcore_acked"  # set on a MessageProxy whose delivery a commit acknowledged


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

    def __init__(self, broker: RedisBroker, current: Callable[[], Any] = lambda: None) -> None:
        check_redis_layout(broker)  # the keys and format written here must be the broker's
        self._broker = broker
        self._current = current

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

    def receipt(self, ref: InvocationRef) -> QueueReceipt | None:
        """The delivery of the message this thread processes, if it runs ``ref``."""
        message = self._current()
        if message is None:
            return None
        options = message.options
        message_id = options.get("redis_message_id")
        if not isinstance(message_id, str) or ref_from_options(options, ref.task_name) != ref:
            return None  # another invocation run inline: its write must not ack this one
        if awaits_reply(ref):
            return None  # its reply is given after the finish: a redelivery gives it again
        broker, queue = self._broker, message.queue_name
        acks = f"{broker.namespace}:__acks__.{broker.broker_id}.{queue}"
        return QueueReceipt(acks, f"{broker.namespace}:{queue}.msgs", message_id)

    def acknowledged(self, receipt: QueueReceipt) -> None:
        """Mark the message this thread processes as acknowledged by a commit."""
        message = self._current()
        if message is not None and message.options.get("redis_message_id") == receipt.message_id:
            setattr(message, _ACKED, True)

    def skip_acknowledged(self) -> None:
        """Make the consumers the broker creates from now on leave out of their ack round
        trip a message whose delivery a commit acknowledged (they still forget it, so their
        prefetch counts stay right). A consumer that does not keep its ids the way this
        Dramatiq does is left alone: it acks as usual, which finds nothing left to remove."""
        broker = self._broker
        consume = broker.consume

        def consuming(queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Any:
            consumer = consume(queue_name, prefetch=prefetch, timeout=timeout)
            ids = getattr(consumer, "queued_message_ids", None)
            if isinstance(ids, set):
                ack = consumer.ack

                def acking(message: Any) -> None:
                    if getattr(message, _ACKED, False):
                        ids.discard(message.message_id)
                        return
                    ack(message)

                consumer.ack = acking  # type: ignore[method-assign]
            return consumer

        broker.consume = consuming  # type: ignore[method-assign]


def outbox_for(
    broker: dramatiq.Broker, store: StateStore, current: Callable[[], Any] = lambda: None
) -> RedisOutbox | None:
    """A ``RedisOutbox`` when ``broker`` is a RedisBroker on ``store``'s server and database.

    The store must write ``Batch.pushes`` and tell, with ``shares_server(client)``, that
    the broker's client reaches its database (``RedisStore`` does, and a ``DelegatingStore``
    around one). A RedisBroker cannot run on Redis Cluster, so a store sharing its server is
    a standalone one, where a commit may write the broker's keys. Anything else: None
    (messages are sent by ``broker.enqueue`` after each commit). ``current`` gives the message
    the calling worker thread processes (for ``RedisOutbox.receipt``).
    """
    shares = getattr(store, "shares_server", None)
    if not isinstance(broker, RedisBroker) or shares is None:
        return None
    if not getattr(store, "writes_pushes", False):
        return None
    client: Any = broker.client
    return RedisOutbox(broker, current) if shares(client) else None
