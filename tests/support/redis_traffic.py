"""Counting what crosses the Redis store's sockets: one write per round trip, one reply per
command. Used by the store tests and by benchmark B1."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from wfcore.store._redis_link import _Link

__all__ = ["Traffic", "count_traffic"]


@dataclass(slots=True)
class Traffic:
    """Round trips (socket writes) and replies read by the store's connections while
    ``paused`` is false."""

    round_trips: int = 0
    replies: int = 0
    paused: bool = False


@contextmanager
def count_traffic(traffic: Traffic) -> Iterator[Traffic]:
    """Count every write and reply of every store connection in this process while active.

    A pipeline or transaction is one write; each command in it one reply.
    """
    send, read = _Link.send, _Link.read

    def counted_send(link: _Link, data: bytes) -> None:
        if not traffic.paused:
            traffic.round_trips += 1
        send(link, data)

    def counted_read(link: _Link, count: int) -> list[Any]:
        replies = read(link, count)
        if not traffic.paused:
            traffic.replies += len(replies)
        return replies

    setattr(_Link, "send", counted_send)  # noqa: B010
    setattr(_Link, "read", counted_read)  # noqa: B010
    try:
        yield traffic
    finally:
        setattr(_Link, "send", send)  # noqa: B010
        setattr(_Link, "read", read)  # noqa: B010
